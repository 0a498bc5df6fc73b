// A hostile configuration corpus: over a thousand hostile values (line breaks and NULs before
// OpenVPN/tinc directives, shell metacharacters, path traversal, 64 KiB strings, wrong types,
// out-of-range and non-finite numbers, non-aligned prefixes, bad addresses) put into every
// string and number field of every seed example, one field at a time, then loaded by the real
// loader. Each must be rejected with an error that names the field, or be accepted and render
// harmlessly: every file passes the renderer's line grammar (checkRenderedFile), none holds
// the payload's directive on a line, and writing them creates nothing outside the output dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "config/json_reader.hpp"
#include "io/file_writer.hpp"
#include "templates/rendered_check.hpp"
#include "templates/renderer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker {
namespace {

namespace fs = std::filesystem;
using meshbroker::testing::exampleText;
using meshbroker::testing::kExampleNodes;
using meshbroker::testing::parseAs;
using nlohmann::json;

// A value as JSON text (so it can be 1e400 or -0, which a json object would rewrite), and the
// line an injection would add to a rendered file ("" when it carries no directive).
struct Hostile {
  std::string json_text;
  std::string directive;
};

std::vector<Hostile> hostileValues() {
  std::vector<Hostile> out;
  auto text = [&out](const std::string& value, const std::string& directive = "") {
    out.push_back({json(value).dump(), directive});
  };
  auto raw = [&out](const std::string& json_text) { out.push_back({json_text, ""}); };

  // Directives of OpenVPN, tinc and the shell that would run a program or open the node.
  const std::vector<std::string> directives = {"up /bin/sh",
                                               "down /bin/sh",
                                               "script-security 3",
                                               "Script = /tmp/evil",
                                               "Script=/tmp/evil",
                                               "route-up /bin/sh -c reboot",
                                               "plugin /tmp/evil.so",
                                               "client-connect /x",
                                               "learn-address /bin/sh",
                                               "tls-verify /bin/sh",
                                               "ConnectTo = evil",
                                               "Subnet = 0.0.0.0/0",
                                               "user root",
                                               "rm -rf / --no-preserve-root"};
  // What could end a line, a word, a quote or a command before them.
  const std::vector<std::string> separators = {"\n",    "\r\n",
                                               "\r",    std::string("\0", 1),
                                               "\n\n",  "\x0b",
                                               "\x0c",  "\x1b",
                                               "\t",    "\x7f",
                                               " ",     ";",
                                               "|",     "&",
                                               "`",     "$(",
                                               "\"",    "'",
                                               "\\",    "#",
                                               "\\n",   "\u2028" /* LINE SEPARATOR */,
                                               "\u0085" /* NEL */};
  // Prefixes that pass a field's own check: an empty one, a name, an address, a path.
  const std::vector<std::string> prefixes = {"", "chip", "192.0.2.11", "/var/lib/meshbroker"};
  for (const auto& directive : directives) text(directive, directive);
  for (const auto& prefix : prefixes) {
    for (const auto& separator : separators) {
      for (const auto& directive : directives) {
        if (prefix.size() == 0 && separator == " ") continue;  // a leading space: same as ""
        text(prefix + separator + directive, directive);
      }
    }
  }
  // Shell metacharacters in otherwise plain values.
  for (const std::string& base : std::vector<std::string>{"chip", "/run/meshbroker"}) {
    for (const std::string& meta : std::vector<std::string>{"$(reboot)",
                                                            "`reboot`",
                                                            ";reboot",
                                                            "|reboot",
                                                            "&reboot",
                                                            "&&reboot",
                                                            "||reboot",
                                                            "'$(reboot)'",
                                                            "\"$(reboot)\"",
                                                            "${IFS}reboot",
                                                            "$INTERFACE",
                                                            ">/etc/passwd",
                                                            "<(reboot)",
                                                            "\\$(reboot)",
                                                            "*",
                                                            "?",
                                                            "[a]",
                                                            "~",
                                                            "!",
                                                            "%0a",
                                                            "%00"}) {
      text(base + meta);
      text(meta + base);
    }
  }
  // Quotes and backslashes alone.
  for (const std::string& quote :
       std::vector<std::string>{"'", "\"", "\\", "''", "\"\"", "\\'", "'\\''", "\\\\"}) {
    text(quote);
  }
  // Path traversal and odd paths.
  for (const std::string& path : std::vector<std::string>{"../../etc/passwd",
                                                          "a/b",
                                                          "/etc/shadow",
                                                          "..",
                                                          ".",
                                                          "/",
                                                          "./",
                                                          "../",
                                                          "chip/../../x",
                                                          "/var/lib/meshbroker/../../../etc",
                                                          "//etc//passwd",
                                                          "~root/x",
                                                          "\\\\server\\share",
                                                          "C:\\Windows",
                                                          "a/",
                                                          "/a b/c",
                                                          "-rf",
                                                          "--help",
                                                          "-c",
                                                          "@x",
                                                          "+x",
                                                          ",",
                                                          ":"}) {
    text(path);
  }
  // Lengths: at and over every limit, and 64 KiB.
  for (std::size_t length : {0u, 1u, 15u, 16u, 64u, 65u, 128u, 4096u, 4097u, 65536u}) {
    text(std::string(length, 'a'));
  }
  text(std::string(65536, '\n'));
  text(std::string(65536, '/'));
  text("a" + std::string(65535, ';'));
  // Numbers where strings go, and out of range: every JSON number shape.
  for (const std::string& number : std::vector<std::string>{"0",
                                                            "-0",
                                                            "0.0",
                                                            "-0.0",
                                                            "1",
                                                            "-1",
                                                            "655",
                                                            "1.5",
                                                            "0.5",
                                                            "-1.5",
                                                            "1e2",
                                                            "1E+2",
                                                            "1e-2",
                                                            "65535",
                                                            "65536",
                                                            "-65536",
                                                            "100000",
                                                            "2147483647",
                                                            "2147483648",
                                                            "-2147483648",
                                                            "-2147483649",
                                                            "4294967295",
                                                            "4294967296",
                                                            "9007199254740992",
                                                            "9007199254740993",
                                                            "9223372036854775807",
                                                            "9223372036854775808",
                                                            "-9223372036854775808",
                                                            "-9223372036854775809",
                                                            "18446744073709551615",
                                                            "18446744073709551616",
                                                            "1e400",
                                                            "-1e400",
                                                            "1e-400",
                                                            "123456789012345678901234567890",
                                                            "3.0",
                                                            "655.0"}) {
    raw(number);
  }
  // Wrong types.
  for (const std::string& value : std::vector<std::string>{
           "null", "true", "false", "[]", "{}", "[\"chip\"]", "[655]", "[[]]", "{\"a\":1}",
           "{\"name\":\"chip\"}", "[null]", "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"}) {
    raw(value);
  }
  // Strings that look like numbers or non-finite values.
  for (const std::string& value : std::vector<std::string>{
           "NaN", "nan", "-nan", "Infinity", "-Infinity", "inf", "1e400", "0x10", "0o17", "1_000",
           "655", "-1", "+655", " 655", "655 ", "6.55e2", "true", "null", ""}) {
    text(value);
  }
  // Prefixes: non-aligned, out of range, malformed.
  for (const std::string& prefix : std::vector<std::string>{"10.1.0.0/11",
                                                            "100.64.12.1/27",
                                                            "172.16.1.65/27",
                                                            "0.0.0.0/0",
                                                            "10.0.0.0/33",
                                                            "10.0.0.0/-1",
                                                            "10.0.0.0/",
                                                            "/24",
                                                            "10.0.0.0/24/24",
                                                            "10.0.0.0 /24",
                                                            "10.0.0.0/024",
                                                            "10.0.0.0/8\nup /bin/sh",
                                                            "10.0.0/8",
                                                            "10.0.0.0/255.0.0.0",
                                                            "::/0",
                                                            "2001:db8::/32",
                                                            "172.16.1.64/27 ",
                                                            "100.64.12.0/27",
                                                            "255.255.255.255/32",
                                                            "10.64.0.0/11"}) {
    text(prefix);
  }
  // Addresses: out of range, short, long, leading zeros, odd forms.
  for (const std::string& address : std::vector<std::string>{
           "256.1.1.1",   "1.2.3",        "1.2.3.4.5",    "01.2.3.4",  "1.2.3.4 ",
           " 1.2.3.4",    "1.2.3.-4",     "0x7f.0.0.1",   "127.1",     "::ffff:1.2.3.4",
           "[::1]",       "1.2.3.4:655",  "localhost",    "0.0.0.0",   "255.255.255.255",
           "100.64.12.0", "100.64.12.31", "100.64.12.11", "::",        "::1",
           "2001:db8::1", "2001:db8:::1", "fe80::1%eth0", "-host",     "host-",
           "a..b",        "a.-b",         "xn--nxasmq6b", "host_name", "192.0.2.11\r\n"}) {
    text(address);
  }
  // Unicode: look-alikes, invisible and bidirectional characters.
  for (const std::string& value :
       std::vector<std::string>{"chíp", "сhip" /* Cyrillic es */, "chip\u200b", "\u202echip",
                                "\ufeffchip", "ｃｈｉｐ", "chip\u00a0", "\u2028", "\U0001f600"}) {
    text(value);
  }
  return out;
}

// JSON pointers of every string, number and boolean in a document.
void collectScalars(const json& value, const std::string& path, std::vector<std::string>& out) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) collectScalars(child, path + "/" + key, out);
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      collectScalars(value[i], path + "/" + std::to_string(i), out);
    }
  } else {
    out.push_back(path);
  }
}

// The document as text with the value at pointer cut out: before + hostile JSON + after.
std::pair<std::string, std::string> cutAt(json document, const std::string& pointer) {
  constexpr const char* kMarker = "@@hostile-value@@";
  document[json::json_pointer(pointer)] = kMarker;
  std::string text = document.dump();
  const std::string quoted = std::string("\"") + kMarker + "\"";
  auto at = text.find(quoted);
  return {text.substr(0, at), text.substr(at + quoted.size())};
}

// Whether the payload's directive is a line of text (or one with a value after it).
bool holdsDirectiveLine(const std::string& text, const std::string& directive) {
  if (directive.empty()) return false;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.starts_with(directive)) return true;
    start = end + 1;
  }
  return false;
}

struct Tally {
  long tried = 0;
  long rejected = 0;
  long rendered = 0;
  long injections = 0;
  long unnamed = 0;
  std::vector<std::string> failures;  // the first few, for the report
  void fail(std::string why) {
    if (failures.size() < 20) failures.push_back(std::move(why));
  }
};

// Every regular file, folder and link under root, relative to root.
std::set<std::string> tree(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    std::string kind = entry.is_symlink() ? "link " : entry.is_directory() ? "dir " : "file ";
    out.insert(kind + fs::relative(entry.path(), root).string());
  }
  return out;
}

// Renders an accepted config and checks it is harmless; "" when it is.
std::string renderedHarmlessly(const config::NodeConfig& node, const Hostile& hostile,
                               const fs::path& sandbox) {
  std::vector<templates::RenderedFile> files;
  try {
    files = templates::renderNode(node, {});
  } catch (const templates::RenderError& e) {
    return std::string("the renderer refused it (validation let it through): ") + e.what();
  }
  std::set<std::string> expected;
  for (const auto& file : files) {
    if (auto why = templates::checkRenderedFile(file)) return *why;
    if (holdsDirectiveLine(file.content, hostile.directive)) {
      return file.path.string() + " holds the directive \"" + hostile.directive + "\" on a line";
    }
    expected.insert("file " + file.path.string());
    for (auto parent = file.path.parent_path(); !parent.empty(); parent = parent.parent_path()) {
      expected.insert("dir " + parent.string());
    }
  }
  // Client profiles list servers' public addresses.
  const templates::ProfileSecrets secrets{"-----BEGIN CERTIFICATE-----\nAA==\n", "c", "k", "t"};
  for (const auto& instance : node.openvpn) {
    if (templates::profileRemotes(node, instance.name).empty()) continue;
    std::string profile;
    try {
      profile =
          templates::renderClientProfile(node, instance.name, instance.kind, "alice", secrets);
    } catch (const templates::RenderError& e) {
      return std::string("the profile renderer refused it: ") + e.what();
    }
    if (auto why = templates::checkRenderedText(templates::RenderedKind::kOpenVpnClient, profile)) {
      return "profile " + instance.name.str() + ": " + *why;
    }
    if (holdsDirectiveLine(profile, hostile.directive)) return "the profile holds the directive";
  }
  // Written for real (checkRenderedFile already vouched for every path being relative).
  const fs::path out = sandbox / "out";
  fs::remove_all(out);
  fs::create_directory(out);
  io::writeFiles(out, files);
  auto written = tree(out);
  if (written != expected) return "writing the files made something else under the output dir";
  auto around = tree(sandbox);
  for (const auto& entry : around) {
    if (entry != "dir out" && entry.find(" out/") == std::string::npos) {
      return "writing the files made " + entry + " outside the output dir";
    }
  }
  return "";
}

// Whether an error names the field: at its path, or quoting its path in the message.
bool namesField(const config::Diagnostics& diagnostics, const std::string& pointer) {
  for (const auto& item : diagnostics.all()) {
    if (item.severity != config::Diagnostic::Severity::kError) continue;
    if (item.path == pointer || item.message.find(pointer) != std::string::npos) return true;
  }
  return false;
}

constexpr std::size_t kSlowBuildStride = 64;

// The seed with the optional fields it leaves out set to their defaults, so they are tried
// too: on every node the ones rendered into files (key paths, the PKI folder, OpenVPN
// interfaces), on chip also those only the daemon reads (status, health, routing, supervisor).
json withOptionalFields(const std::string& node, json seed) {
  auto set = [&seed](const std::string& pointer, const json& value) {
    json::json_pointer at(pointer);
    if (!seed.contains(at)) seed[at] = value;
  };
  set("/tinc/private_key_file", "/var/lib/meshbroker/tinc/rsa_key.priv");
  set("/tinc/public_key_file", "/var/lib/meshbroker/tinc/rsa_key.pub");
  set("/tinc/insecure", false);
  set("/paths/pki_dir", "/var/lib/meshbroker/pki");
  set("/paths/render_dir", "/var/lib/meshbroker/rendered");
  if (seed.contains("openvpn")) {
    for (auto& instance : seed["openvpn"]) {
      if (!instance.contains("interface")) {
        instance["interface"] = ("vpn_" + instance["name"].get<std::string>()).substr(0, 15);
      }
    }
  }
  if (node != "chip") return seed;
  set("/tinc/prefix6", "fd00:64:12::/64");
  set("/tinc/address6", "fd00:64:12::11");
  set("/hosts/0/mesh_address6", "fd00:64:12::12");
  set("/hosts/1/mesh_address6", "fd00:64:12::9");
  set("/hosts/2/mesh_address6", "fd00:64:12::a");
  set("/hosts/0/client_subnets6", json::array({"fd00:172:16:2::/64"}));
  set("/openvpn/1/subnet6", "fd00:172:16:1::/64");
  set("/status/token_file", "/etc/meshbroker/token");
  set("/status/threads", 16);
  set("/health/udp_port", 53);
  set("/health/udp_payload_hex", "6d6573686272");
  set("/health/down_after", 8);
  set("/health/rtt_down_ms", 0);
  set("/routing/protocol", 177);
  set("/routing/table_base", 7700);
  set("/supervisor/tincd", "/usr/sbin/tincd");
  set("/supervisor/openvpn", "/usr/sbin/openvpn");
  set("/supervisor/restart_max_ms", 60000);
  return seed;
}

// testKeys(node), read once: the loader asks for the same few key files on every load.
config::FileReader cachedKeys(const std::string& node) {
  auto cache = std::make_shared<std::map<fs::path, std::optional<std::string>>>();
  auto read = meshbroker::testing::testKeys(node);
  return [cache, read](const fs::path& path) {
    auto it = cache->find(path);
    if (it == cache->end()) it = cache->emplace(path, read(path)).first;
    return it->second;
  };
}

// Every value in every field is some 290,000 loads: about 40 s of CPU in an optimized build,
// but some 20 minutes in the Debug ASan+UBSan one (4.5 ms a load). There the test tries one
// (field, value) pair in kSlowBuildStride, shifted per field, so each value still goes into
// three fields and each field gets about two dozen values from all over the list (about 4,700
// loads). MESHBROKER_HOSTILE_STRIDE overrides it (1: the whole grid).
std::size_t stride() {
  if (const char* text = std::getenv("MESHBROKER_HOSTILE_STRIDE")) {
    return std::max<std::size_t>(1, std::strtoul(text, nullptr, 10));
  }
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
  return kSlowBuildStride;
#else
  return 1;
#endif
}

TEST(HostileConfig, EveryFieldOfEverySeedRejectsOrRendersHarmlessly) {
  const auto values = hostileValues();
  ASSERT_GE(values.size(), 1000u);
  const std::size_t step = stride();

  struct Job {
    std::string node;
    std::string pointer;
    std::pair<std::string, std::string> cut;
  };
  std::vector<json> documents;
  for (const auto& node : kExampleNodes) {
    documents.push_back(withOptionalFields(node, json::parse(exampleText(node))));
    auto baseline = parseAs(node, documents.back().dump());
    ASSERT_TRUE(baseline.config) << node << ":\n"
                                 << meshbroker::testing::describe(baseline.diagnostics);
  }
  std::vector<Job> jobs;
  for (std::size_t n = 0; n < kExampleNodes.size(); ++n) {
    std::vector<std::string> pointers;
    collectScalars(documents[n], "", pointers);
    for (const auto& pointer : pointers) {
      jobs.push_back({kExampleNodes[n], pointer, cutAt(documents[n], pointer)});
    }
  }
  ASSERT_GT(jobs.size(), 100u);

  // Fields in parallel (one sandbox per worker): the ASan build must stay well under 30 s.
  const unsigned workers = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  Tally total;
  auto work = [&](unsigned worker) {
    Tally tally;
    const fs::path sandbox =
        (fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path()) /
        ("mb-hostile-" + std::to_string(::getpid()) + "-" + std::to_string(worker));
    fs::remove_all(sandbox);
    fs::create_directories(sandbox);
    std::map<std::string, config::FileReader> keys;
    for (const auto& node : kExampleNodes) keys[node] = cachedKeys(node);
    for (std::size_t j; (j = next.fetch_add(1)) < jobs.size();) {
      const Job& job = jobs[j];
      for (std::size_t v = j % step; v < values.size(); v += step) {
        const Hostile& hostile = values[v];
        ++tally.tried;
        auto result = config::parseConfig(job.cut.first + hostile.json_text + job.cut.second,
                                          "/etc/meshbroker", keys[job.node]);
        std::string where = job.node + " " + job.pointer + " = " +
                            config::showValue(hostile.json_text.substr(0, 200));
        if (!result.config) {
          ++tally.rejected;
          if (!namesField(result.diagnostics, job.pointer)) {
            ++tally.unnamed;
            tally.fail(where + ": rejected without naming the field:\n" +
                       meshbroker::testing::describe(result.diagnostics));
          }
          continue;
        }
        auto why = renderedHarmlessly(*result.config, hostile, sandbox);
        if (why.empty()) {
          ++tally.rendered;
        } else {
          ++tally.injections;
          tally.fail(where + ": accepted and " + why);
        }
      }
    }
    fs::remove_all(sandbox);
    std::lock_guard lock(mutex);
    total.tried += tally.tried;
    total.rejected += tally.rejected;
    total.rendered += tally.rendered;
    total.injections += tally.injections;
    total.unnamed += tally.unnamed;
    for (auto& failure : tally.failures) total.fail(std::move(failure));
  };
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < workers; ++w) threads.emplace_back(work, w);
  for (auto& thread : threads) thread.join();

  for (const auto& failure : total.failures) ADD_FAILURE() << failure;
  std::printf(
      "hostile_config: %zu values x %zu fields of %zu seeds (1 pair in %zu): tried %ld, "
      "rejected %ld (field named in %s), rendered harmlessly %ld, injections %ld\n",
      values.size(), jobs.size(), kExampleNodes.size(), step, total.tried, total.rejected,
      total.unnamed == 0 ? "all" : (std::to_string(total.rejected - total.unnamed)).c_str(),
      total.rendered, total.injections);
  if (step == 1) {
    EXPECT_EQ(total.tried, static_cast<long>(values.size() * jobs.size()));
  }
  EXPECT_EQ(total.tried, total.rejected + total.rendered + total.injections);
  EXPECT_EQ(total.unnamed, 0);
  EXPECT_EQ(total.injections, 0);
  EXPECT_GT(total.rendered, 0);  // the harmless-render path was exercised
}

// Found by the corpus: messages that did not name the field the value was put in.
TEST(HostileConfig, ErrorsNameTheFieldTheValueIsIn) {
  // A number no double holds fails the JSON parse itself: reported at its field, not at "".
  auto text = exampleText("chip");
  auto at = text.find("\"port\": 655");
  ASSERT_NE(at, std::string::npos);
  auto result = parseAs("chip", text.substr(0, at) + "\"port\": 1e400" + text.substr(at + 11));
  ASSERT_FALSE(result.config);
  ASSERT_EQ(result.diagnostics.all().size(), 1u);
  EXPECT_EQ(result.diagnostics.all()[0].path, "/tinc/port");
  EXPECT_NE(result.diagnostics.all()[0].message.find("is not valid JSON"), std::string::npos);
  EXPECT_EQ(config::errorPointer(R"({"a": [1, {"b": [true, -1e999]}]})"), "/a/1/b/1");
  EXPECT_EQ(config::errorPointer(R"({"a~/b": 1e400})"), "/a~0~1b");
  EXPECT_EQ(config::errorPointer("{\"name\": "), "/name");
  EXPECT_EQ(config::errorPointer("[1e400]"), "/0");
  EXPECT_EQ(config::errorPointer("{}"), "");

  // A renamed host: connect_to and via name the host field that no longer matches.
  auto chip = json::parse(exampleText("chip"));
  chip["hosts"][0]["name"] = "comegat0";
  meshbroker::testing::expectError("chip", chip, "/tinc/connect_to/0",
                                   "known: \"comegat0\" at /hosts/0/name");
  chip = json::parse(exampleText("chip"));
  chip["hosts"][1]["role"] = "server";
  meshbroker::testing::expectError("chip", chip, "/routes/0/via/0/gateway", "at /hosts/1/role");
  chip = json::parse(exampleText("chip"));
  chip["tinc"]["prefix"] = "10.64.0.0/11";
  meshbroker::testing::expectError("chip", chip, "/tinc/address", "(/tinc/prefix)");
}

// The grammar itself catches each kind of injection the corpus aims at.
TEST(HostileConfig, RenderedCheckCatchesInjectedLines) {
  using templates::checkRenderedText;
  using templates::RenderedKind;
  auto result = parseAs("chip", exampleText("chip"));
  ASSERT_TRUE(result.config);
  for (const auto& file : templates::renderNode(*result.config, {})) {
    EXPECT_EQ(templates::checkRenderedFile(file), std::nullopt) << file.path;
    auto kind = *templates::renderedKindOf(file.path);
    auto broken = [&](const std::string& line) {
      std::string text = file.content + line + "\n";
      return checkRenderedText(kind, text).has_value();
    };
    EXPECT_TRUE(broken("up /bin/sh")) << file.path;
    EXPECT_TRUE(broken("Script = /tmp/evil")) << file.path;
    EXPECT_TRUE(broken("script-security 3")) << file.path;
    EXPECT_TRUE(checkRenderedText(kind, file.content + "x\r\n").has_value());
    EXPECT_TRUE(checkRenderedText(kind, file.content.substr(0, file.content.size() - 1) +
                                            std::string("\0", 1) + "\n")
                    .has_value());
  }
  // Values that would split into more arguments, or reach a shell.
  EXPECT_TRUE(checkRenderedText(RenderedKind::kTincConf, "Name = chip evil\n"));
  EXPECT_TRUE(checkRenderedText(RenderedKind::kTincConf, "Name = chip\nName = evil\n"));
  EXPECT_TRUE(checkRenderedText(RenderedKind::kTincScript,
                                "#!/bin/sh\n'/usr/bin/meshbroker' notify --runtime-dir "
                                "'/run/x'$(reboot)'' tinc-up || true\n"));
  EXPECT_FALSE(checkRenderedText(RenderedKind::kTincScript,
                                 "#!/bin/sh\n'/opt/it'\\''s here/meshbroker' notify --runtime-dir "
                                 "'/run/meshbroker' tinc-up || true\n"));
  // Anything else after the command is refused.
  EXPECT_TRUE(
      checkRenderedText(RenderedKind::kTincScript,
                        "#!/bin/sh\n'/m' notify --runtime-dir '/r' tinc-up; reboot || true\n"));
  EXPECT_TRUE(checkRenderedText(RenderedKind::kTincScript,
                                "#!/bin/sh\nip addr replace 1.2.3.4/24 dev $(reboot)\n'/m' notify "
                                "--runtime-dir '/r' tinc-up || true\n"));
  EXPECT_TRUE(checkRenderedText(RenderedKind::kOpenVpnServer, "push \"route 1.2.3.4 up\"\n"));
  // Paths outside the render root.
  EXPECT_FALSE(templates::renderedKindOf("tinc/hosts/../../../etc/passwd"));
  EXPECT_FALSE(templates::renderedKindOf("/etc/passwd"));
  EXPECT_FALSE(templates::renderedKindOf("tinc/hosts/a.b"));
  EXPECT_FALSE(templates::renderedKindOf("openvpn/../x.conf"));
}

}  // namespace
}  // namespace meshbroker
