// No config value can add a line to a rendered file: every string field of every example is
// tried with hostile values; each must be rejected naming that field, and the renderer itself
// refuses control characters that somehow got past validation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "templates/renderer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker {
namespace {

using meshbroker::testing::describe;
using meshbroker::testing::exampleText;
using meshbroker::testing::kExampleNodes;
using meshbroker::testing::parseAs;
using nlohmann::json;

// JSON pointers of every string in a document.
void collectStrings(const json& value, const std::string& path, std::vector<std::string>& out) {
  if (value.is_string()) {
    out.push_back(path);
  } else if (value.is_object()) {
    for (const auto& [key, child] : value.items()) collectStrings(child, path + "/" + key, out);
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      collectStrings(value[i], path + "/" + std::to_string(i), out);
    }
  }
}

const std::vector<std::string> kHostile = {
    "x\nup /bin/sh",
    "aes-256-cbc\nScript = /tmp/evil",
    "x\r\nscript-security 3",
    std::string("chip\0up", 7),
    "\x1b[2Jcleared",
    "tab\there",
    "del\x7f",
    "\n",
};

TEST(Injection, EveryStringFieldRejectsControlCharacters) {
  int tried = 0;
  for (const auto& node : kExampleNodes) {
    json example = json::parse(exampleText(node));
    std::vector<std::string> pointers;
    collectStrings(example, "", pointers);
    ASSERT_FALSE(pointers.empty());
    for (const auto& pointer : pointers) {
      for (const auto& hostile : kHostile) {
        json config = example;
        config[json::json_pointer(pointer)] = hostile;
        auto result = parseAs(node, config.dump());
        ++tried;
        EXPECT_FALSE(result.config) << node << " " << pointer << " accepted a control character";
        bool named = false;
        for (const auto& item : result.diagnostics.all()) {
          named = named || (item.path == pointer &&
                            item.message.find("control character") != std::string::npos);
          // The message itself shows the value escaped: it stays on one line.
          EXPECT_EQ(item.str().find('\n'), std::string::npos) << item.str();
        }
        EXPECT_TRUE(named) << node << " " << pointer << ":\n" << describe(result.diagnostics);
      }
    }
  }
  EXPECT_GT(tried, 200);
}

TEST(Injection, RendererRefusesControlCharactersPastValidation) {
  auto result = parseAs("chip", exampleText("chip"));
  ASSERT_TRUE(result.config);
  auto node = *result.config;
  node.tinc.cipher = "aes-256-cbc\nScript = /tmp/evil";
  EXPECT_THROW(templates::renderNode(node, {}), templates::RenderError);

  node = *result.config;
  EXPECT_THROW(templates::renderNode(node, {"/usr/bin/meshbroker\nreboot"}),
               templates::RenderError);
}

TEST(Injection, RenderedFilesHoldOnlyExpectedLines) {
  // With a hostile-looking but legal binary path, scripts still have one command per line.
  auto result = parseAs("cometa", exampleText("cometa"));
  ASSERT_TRUE(result.config);
  auto files = templates::renderNode(*result.config, {"/opt/it's here/$(reboot)/meshbroker"});
  for (const auto& file : files) {
    if (file.mode != 0755) continue;
    EXPECT_NE(file.content.find("'/opt/it'\\''s here/$(reboot)/meshbroker' notify"),
              std::string::npos)
        << file.path << ":\n"
        << file.content;
  }
}

TEST(Injection, ShellQuote) {
  EXPECT_EQ(templates::shellQuote("plain"), "'plain'");
  EXPECT_EQ(templates::shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(templates::shellQuote("$(x) `y` \"z\""), "'$(x) `y` \"z\"'");
}

}  // namespace
}  // namespace meshbroker
