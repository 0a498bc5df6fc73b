// The one mend for a Boost.Process 1.74 flaw, for every place that starts a child with it
// (process.cpp's launcher, command.cpp's runCommand).
#pragma once

#include <sys/wait.h>

#include <boost/process/extend.hpp>
#include <system_error>

namespace meshbroker::backends {

// Boost 1.74 forgets the forked child when its exec fails (a missing program): this handler,
// passed to bp::child, reaps it, or it stays a zombie for as long as meshbroker runs.
inline auto reapFailedExec() {
  return boost::process::extend::on_error([](auto& executor, const std::error_code&) {
    if (executor.pid > 0) ::waitpid(executor.pid, nullptr, 0);
  });
}

}  // namespace meshbroker::backends
