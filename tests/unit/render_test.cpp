// Golden files pin every rendered file of every example node (tests/golden/NODE/...).
// After an intended change: UPDATE_GOLDEN=1 ctest -R Render, then review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "templates/renderer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker::templates {
namespace {

namespace fs = std::filesystem;
using meshbroker::testing::exampleText;
using meshbroker::testing::kSourceDir;
using meshbroker::testing::parseAs;
using meshbroker::testing::readText;

std::vector<RenderedFile> renderExample(const std::string& node) {
  auto result = parseAs(node, exampleText(node));
  if (!result.config) throw std::runtime_error(meshbroker::testing::describe(result.diagnostics));
  return renderNode(*result.config, {"/usr/bin/meshbroker"});
}

std::string modesListing(const std::vector<RenderedFile>& files) {
  std::string out;
  for (const auto& file : files) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", file.mode);
    out += std::string(mode) + " " + file.path.string() + "\n";
  }
  return out;
}

class RenderGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(RenderGolden, MatchesGoldenFiles) {
  const std::string node = GetParam();
  auto files = renderExample(node);
  fs::path golden = kSourceDir / "tests" / "golden" / node;
  if (std::getenv("UPDATE_GOLDEN")) {
    fs::remove_all(golden);
    for (const auto& file : files) {
      fs::create_directories((golden / file.path).parent_path());
      std::ofstream(golden / file.path, std::ios::binary) << file.content;
    }
    std::ofstream(golden / "MODES", std::ios::binary) << modesListing(files);
    GTEST_SKIP() << "golden files rewritten for " << node;
  }
  EXPECT_EQ(modesListing(files), readText(golden / "MODES"));
  std::size_t on_disk = 0;
  for (const auto& entry : fs::recursive_directory_iterator(golden)) {
    if (entry.is_regular_file() && entry.path().filename() != "MODES") ++on_disk;
  }
  EXPECT_EQ(on_disk, files.size()) << "golden folder has files the renderer no longer makes";
  for (const auto& file : files) {
    EXPECT_EQ(file.content, readText(golden / file.path)) << node << ": " << file.path;
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, RenderGolden,
                         ::testing::ValuesIn(meshbroker::testing::kExampleNodes));

const RenderedFile& fileNamed(const std::vector<RenderedFile>& files, const std::string& path) {
  for (const auto& file : files) {
    if (file.path == path) return file;
  }
  throw std::runtime_error("not rendered: " + path);
}

TEST(Render, GatewayRoutesBackToEveryServersClientSubnet) {
  auto files = renderExample("cometa");
  const auto& up = fileNamed(files, "tinc/tinc-up").content;
  EXPECT_NE(up.find("ip route replace 172.16.1.64/27 via 100.64.12.11 dev \"$INTERFACE\""),
            std::string::npos);
  EXPECT_NE(up.find("ip route replace 172.16.1.96/27 via 100.64.12.11 dev \"$INTERFACE\""),
            std::string::npos);
  EXPECT_NE(up.find("ip route replace 172.16.1.128/27 via 100.64.12.12 dev \"$INTERFACE\""),
            std::string::npos);
  EXPECT_EQ(up.find("route add"), std::string::npos);
  EXPECT_EQ(up.find("ifconfig"), std::string::npos);
}

TEST(Render, ServerHasNoRoutesBack) {
  auto files = renderExample("chip");
  EXPECT_EQ(fileNamed(files, "tinc/tinc-up").content.find("ip route"), std::string::npos);
}

TEST(Render, ScriptsAreExecutableAndOthersNot) {
  for (const auto& file : renderExample("chip")) {
    bool script = file.content.starts_with("#!/bin/sh\n");
    EXPECT_EQ(file.mode, script ? 0755u : 0644u) << file.path;
  }
}

TEST(Render, HostFilesCarryAddressCryptoAndKey) {
  auto files = renderExample("cometa");
  const auto& chip = fileNamed(files, "tinc/hosts/chip").content;
  EXPECT_NE(chip.find("Address = 192.0.2.11 655\n"), std::string::npos);
  EXPECT_NE(chip.find("Compression = 10\nCipher = aes-256-cbc\nDigest = sha256\n"),
            std::string::npos);
  EXPECT_NE(chip.find(readText(kSourceDir / "tests/data/keys/chip.pub")), std::string::npos);
  // A gateway behind NAT has no Address line: it only dials out.
  EXPECT_EQ(fileNamed(files, "tinc/hosts/cometa").content.find("Address"), std::string::npos);
}

TEST(Render, RouterModeAddsSubnets) {
  auto result = parseAs("cometa", exampleText("cometa"));
  ASSERT_TRUE(result.config);
  auto node = *result.config;
  node.tinc.mode = config::TincMode::kRouter;
  auto files = renderNode(node, {});
  const auto& chip = fileNamed(files, "tinc/hosts/chip").content;
  EXPECT_NE(chip.find("Subnet = 100.64.12.11/32\nSubnet = 172.16.1.64/27\n"), std::string::npos);
}

TEST(Render, IsDeterministic) { EXPECT_EQ(renderExample("chip"), renderExample("chip")); }

}  // namespace
}  // namespace meshbroker::templates
