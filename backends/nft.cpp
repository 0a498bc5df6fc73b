#include "backends/nft.hpp"

#include <boost/process.hpp>
#include <iterator>

namespace meshbroker::backends {

namespace bp = boost::process;

NftResult runNft(const std::filesystem::path& nft, const std::string& script,
                 std::chrono::milliseconds timeout) {
  NftResult result;
  std::error_code ec;
  bp::opstream in;
  bp::ipstream out;
  bp::child child(bp::exe = nft.string(), bp::args = {"-f", "-"},
                  bp::std_in<in, (bp::std_out & bp::std_err)> out, ec);
  if (ec || !child.valid()) {
    result.output = "cannot run " + nft.string() + ": " + ec.message();
    return result;
  }
  in << script;
  in.flush();
  in.pipe().close();
  // nft's output is a few lines: it fits the pipe, so waiting first cannot dead-lock.
  if (!child.wait_for(timeout, ec)) {
    child.terminate(ec);
    result.output =
        nft.string() + " did not finish within " + std::to_string(timeout.count()) + " ms";
    return result;
  }
  result.output.assign(std::istreambuf_iterator<char>(out), {});
  while (!result.output.empty() && (result.output.back() == '\n' || result.output.back() == ' ')) {
    result.output.pop_back();
  }
  result.ok = child.exit_code() == 0;
  if (!result.ok && result.output.empty()) {
    result.output = nft.string() + " exited with " + std::to_string(child.exit_code());
  }
  return result;
}

}  // namespace meshbroker::backends
