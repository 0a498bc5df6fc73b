#include "backends/command.hpp"

#include <boost/process.hpp>
#include <iterator>

#include "backends/reap_failed_exec.hpp"

namespace meshbroker::backends {

namespace bp = boost::process;

CommandResult runCommand(const std::filesystem::path& exe, const std::vector<std::string>& args,
                         const std::string& input, std::chrono::milliseconds timeout) {
  CommandResult result;
  std::error_code ec;
  bp::opstream in;
  bp::ipstream out;
  bp::child child(bp::exe = exe.string(), bp::args = args,
                  bp::std_in<in, (bp::std_out & bp::std_err)> out, reapFailedExec(), ec);
  if (ec || !child.valid()) {
    result.output = "cannot run " + exe.string() + ": " + ec.message();
    return result;
  }
  in << input;
  in.flush();
  in.pipe().close();
  // The output is a few lines: it fits the pipe, so waiting first cannot dead-lock.
  if (!child.wait_for(timeout, ec)) {
    child.terminate(ec);
    result.output =
        exe.string() + " did not finish within " + std::to_string(timeout.count()) + " ms";
    return result;
  }
  result.output.assign(std::istreambuf_iterator<char>(out), {});
  while (!result.output.empty() && (result.output.back() == '\n' || result.output.back() == ' ')) {
    result.output.pop_back();
  }
  result.ok = child.exit_code() == 0;
  if (!result.ok && result.output.empty()) {
    result.output = exe.string() + " exited with " + std::to_string(child.exit_code());
  }
  return result;
}

}  // namespace meshbroker::backends
