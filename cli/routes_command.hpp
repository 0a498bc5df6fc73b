// `meshbroker routes --dry-run`: what meshbroker would change in the kernel's routes now.
#pragma once

#include <filesystem>
#include <ostream>

namespace meshbroker::cli {

// With a running daemon: its gateway verdicts, route sets and the changes its next reconcile
// would make (normally none). Without one: the changes starting it would make if every probed
// peer answered, against the routes in the kernel now. Nothing is changed either way.
int runRoutes(const std::filesystem::path& config_file, bool as_json, std::ostream& out,
              std::ostream& err);

// `meshbroker drain|undrain GATEWAY`: take a gateway out of (or back into) every route set.
int runDrain(const std::filesystem::path& config_file, const std::string& gateway, bool drain,
             std::ostream& out, std::ostream& err);

}  // namespace meshbroker::cli
