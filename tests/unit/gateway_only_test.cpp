// The gateway-only build (MESHBROKER_GATEWAY_ONLY): a gateway's config checks and renders as in
// the full build; a server's (role "server", OpenVPN instances) is refused by check and by the
// daemon, naming the field and the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backends/process.hpp"
#include "cli/commands.hpp"
#include "config/loader.hpp"
#include "supervisor/daemon.hpp"
#include "unit/test_support.hpp"
#include "web/server.hpp"

namespace meshbroker::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class GatewayOnlyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = meshbroker::testing::freshTestDir("mb-gw-only");
    meshbroker::testing::copyExampleKeys(dir_ / "keys");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name) {
    auto config = json::parse(meshbroker::testing::exampleText(name));
    config["paths"] = {{"state_dir", (dir_ / "state").string()},
                       {"runtime_dir", (dir_ / "run").string()}};
    std::ofstream(dir_ / (name + ".json")) << config.dump(2);
    return dir_ / (name + ".json");
  }

  fs::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(GatewayOnlyTest, AGatewaysConfigChecks) {
  EXPECT_EQ(runCheck(write("cometa"), out_, err_), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("ok (node cometa, gateway"), std::string::npos) << out_.str();
}

TEST_F(GatewayOnlyTest, AServersConfigIsRefusedNamingTheFields) {
  const auto file = write("chip");
  EXPECT_EQ(runCheck(file, out_, err_), kExitInvalidConfig);
  EXPECT_NE(err_.str().find(file.string() + ": /role: \"server\" this meshbroker is built for the "
                                            "gateway role only"),
            std::string::npos)
      << err_.str();
  EXPECT_NE(err_.str().find(file.string() + ": /openvpn: this meshbroker is built for the gateway "
                                            "role only"),
            std::string::npos)
      << err_.str();
  EXPECT_TRUE(out_.str().empty()) << out_.str();
}

TEST_F(GatewayOnlyTest, TheDaemonRefusesToStartAServersConfig) {
  auto loaded = config::loadConfigFile(write("chip"));
  ASSERT_TRUE(loaded.config);
  asio::io_context io;
  backends::RealProcessLauncher launcher(io);
  supervisor::Daemon daemon(io, launcher, {dir_ / "chip.json", "/usr/bin/meshbroker"},
                            std::move(*loaded.config));
  try {
    daemon.start();
    FAIL() << "a server's config started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("built for the gateway role only"), std::string::npos)
        << e.what();
  }
}

// The document and join listeners' way to serve: none in this build, with a reason (the binary
// links no listener; bench/size measures what that saves).
TEST(GatewayOnlyServing, StartServerServesNothingAndSaysWhy) {
  struct Nothing : web::Handler {
    web::Response handle(const web::Request&) const override { return {}; }
  } handler;
  web::ServerOptions options;
  options.port = 0;
  try {
    web::startServer(handler, options);
    FAIL() << "a gateway-only build started a listener";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("gateway role only"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace meshbroker::cli
