// What a part of the daemon (a driver, the CRL watch) may tell the rest: an event for the
// status page, and that its state changed (publish soon). The composition root wires both to
// the status publisher.
#pragma once

#include <functional>
#include <string>

namespace meshbroker::supervisor {

struct PartHooks {
  std::function<void(std::string source, std::string what)> record;
  std::function<void()> changed;
};

}  // namespace meshbroker::supervisor
