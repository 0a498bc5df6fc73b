// Builds a NodeConfig from JSON: structure and field values here, cross-checks in validate.cpp.
// Why ~640 lines: one reader per config section, in the order docs/configuration.md documents
// them, each a flat list of fields; splitting by section would scatter the JSON pointer paths
// the diagnostics print.
#include "config/loader.hpp"

#include <cctype>
#include <fstream>
#include <sstream>

#include "config/json_reader.hpp"
#include "config/uci.hpp"
#include "config/validate.hpp"

namespace meshbroker::config {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kCiphers = {
    "aes-128-cbc",      "aes-192-cbc", "aes-256-cbc", "aes-128-cfb",
    "aes-256-cfb",      "aes-128-ofb", "aes-256-ofb", "camellia-128-cbc",
    "camellia-256-cbc", "bf-cbc",      "none"};
const std::vector<std::string> kDigests = {"sha1", "sha256", "sha384", "sha512", "none"};

constexpr int kDefaultTincPort = 655;
constexpr int kDefaultStatusPort = 8655;

ValueReader<std::string> oneOf(Diagnostics& diag, const std::vector<std::string>& allowed) {
  return
      [&diag, &allowed](const Json& value, const std::string& path) -> std::optional<std::string> {
        auto text = readString(value, path, diag);
        if (!text) return std::nullopt;
        for (const auto& name : allowed) {
          if (name == *text) return text;
        }
        std::string list;
        for (const auto& name : allowed) list += (list.empty() ? "" : ", ") + name;
        diag.error(path, dumpForMessage(value), "is not one of: " + list);
        return std::nullopt;
      };
}

// A system user's name as useradd accepts it (it is written into openvpn's config and tincd's
// command line): a lower-case letter or '_', then letters, digits, '_' or '-', 32 at most.
ValueReader<std::string> userNameReader(Diagnostics& diag) {
  return [&diag](const Json& value, const std::string& path) -> std::optional<std::string> {
    auto text = readString(value, path, diag);
    if (!text) return std::nullopt;
    bool ok = !text->empty() && text->size() <= 32 &&
              ((*text)[0] == '_' || ((*text)[0] >= 'a' && (*text)[0] <= 'z'));
    for (char c : *text) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    }
    if (!ok) {
      diag.error(path, dumpForMessage(value),
                 "is not a system user's name (a-z or _, then a-z, 0-9, _ or -; 32 at most)");
      return std::nullopt;
    }
    return text;
  };
}

// Bytes written as hex ("0a1b..."), so a probe payload can be binary (a DNS query).
ValueReader<std::string> hexReader(Diagnostics& diag, std::size_t max_bytes) {
  return [&diag, max_bytes](const Json& value,
                            const std::string& path) -> std::optional<std::string> {
    auto text = readString(value, path, diag);
    if (!text) return std::nullopt;
    if (text->empty() || text->size() % 2 != 0 || text->size() / 2 > max_bytes) {
      diag.error(path, dumpForMessage(value),
                 "must be 1.." + std::to_string(max_bytes) + " bytes written as hex digit pairs");
      return std::nullopt;
    }
    std::string bytes;
    for (std::size_t i = 0; i < text->size(); i += 2) {
      const int high = hexDigitValue((*text)[i]);
      const int low = hexDigitValue((*text)[i + 1]);
      if (high < 0 || low < 0) {
        diag.error(path, dumpForMessage(value),
                   "has a non-hex character at offset " + std::to_string(high < 0 ? i : i + 1));
        return std::nullopt;
      }
      bytes.push_back(static_cast<char>(high * 16 + low));
    }
    return bytes;
  };
}

// A file path: a safe character set (it is written into tinc.conf and shell scripts),
// relative paths resolved against the config file's folder.
ValueReader<fs::path> pathReader(Diagnostics& diag, const fs::path& base_dir) {
  return [&diag, base_dir](const Json& value, const std::string& path) -> std::optional<fs::path> {
    auto text = readString(value, path, diag);
    if (!text) return std::nullopt;
    bool ok = !text->empty();
    for (char c : *text) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-' || c == '+' || c == '/' || c == '@' ||
                  c == ',' || c == ':');
    }
    if (!ok) {
      diag.error(path, dumpForMessage(value),
                 "is not an acceptable path (use only A-Z a-z 0-9 _ . - + / @ , :)");
      return std::nullopt;
    }
    fs::path result(*text);
    if (result.is_relative()) result = base_dir / result;
    return result.lexically_normal();
  };
}

ValueReader<Port> portReader(Diagnostics& diag) {
  return [&diag](const Json& value, const std::string& path) -> std::optional<Port> {
    auto number = readInt(value, path, diag, 1, 65535);
    if (!number) return std::nullopt;
    return Port::fromInt(*number, nullptr);
  };
}

std::optional<Port> defaultPort(int value) { return Port::fromInt(value, nullptr); }

template <class T>
ValueReader<T> objectReader(Diagnostics& diag,
                            std::function<std::optional<T>(ObjectReader&)> build) {
  return [&diag, build](const Json& value, const std::string& path) -> std::optional<T> {
    ObjectReader object(value, path, diag);
    if (!object.ok()) return std::nullopt;
    auto result = build(object);
    object.finish();
    return result;
  };
}

// A peer's public key, inline ("public_key") or as a file ("public_key_file"). The file is
// often fetched from a volunteer's router: a bad one must cost that peer, never the node. So a
// key that is missing or not a PEM key drops the peer (no key in its host file: tincd refuses
// it) with a warning; only the JSON's own shape (not a string, both given) is an error.
struct KeySource {
  std::optional<PublicKeyPem> key;
  std::optional<fs::path> file;
  bool failed = false;
};

std::string droppedPeer(const std::optional<NodeName>& name) {
  std::string peer = name ? name->str() : "this host";
  return "; " + peer + " is dropped: its host file gets no key, so tincd refuses " + peer +
         " until the key is fixed (the rest of the config stands)";
}

KeySource readKeySource(ObjectReader& object, const std::optional<NodeName>& name,
                        const fs::path& base_dir, const FileReader& read_file) {
  Diagnostics& diag = object.diag();
  KeySource source;
  const Json* inline_key = object.find("public_key");
  if (inline_key &&
      (!inline_key->is_string() || inline_key->get_ref<const std::string&>().size() > 16384)) {
    diag.error(object.childPath("public_key"), dumpForMessage(*inline_key),
               "is not a PEM string (at most 16 KiB)");
    source.failed = true;
    inline_key = nullptr;
  }
  source.file =
      object.optional<fs::path>("public_key_file", pathReader(diag, base_dir), &source.failed);
  if (inline_key && source.file) {
    diag.error(object.childPath("public_key_file"), "",
               "conflicts with public_key (give the key inline or as a file, not both)");
    source.failed = true;
    return source;
  }
  std::string why;
  if (inline_key) {
    source.key = PublicKeyPem::parse(inline_key->get_ref<const std::string&>(), &why);
    if (!source.key) {
      diag.warning(object.childPath("public_key"), dumpForMessage(*inline_key),
                   why + droppedPeer(name));
    }
  } else if (source.file) {
    std::string shown = "\"" + source.file->string() + "\"";
    if (auto text = read_file(*source.file)) {
      source.key = PublicKeyPem::parse(*text, &why);
      if (!source.key) {
        diag.warning(object.childPath("public_key_file"), shown,
                     "holds a key that " + why + droppedPeer(name));
      }
    } else {
      diag.warning(object.childPath("public_key_file"), shown,
                   "is missing, unreadable or larger than 64 KiB" + droppedPeer(name));
    }
  } else if (!source.failed) {
    diag.warning(object.path(), "", "has no public_key or public_key_file" + droppedPeer(name));
  }
  return source;
}

ValueReader<bool> boolReader(Diagnostics& diag) {
  return [&diag](const Json& value, const std::string& path) -> std::optional<bool> {
    if (!value.is_boolean()) {
      diag.error(path, dumpForMessage(value), "is not true or false");
      return std::nullopt;
    }
    return value.get<bool>();
  };
}

std::optional<PublicEndpoint> readEndpoint(ObjectReader& object, std::optional<Port> port,
                                           bool* failed) {
  auto address =
      object.optional<HostAddress>("public_address", parsed<HostAddress>(object.diag()), failed);
  if (!address || !port) return std::nullopt;
  return PublicEndpoint{*address, *port};
}

std::optional<PathsConfig> readPaths(ObjectReader& object, const fs::path& base_dir) {
  auto& diag = object.diag();
  PathsConfig defaults;
  auto state =
      object.withDefault<fs::path>("state_dir", pathReader(diag, base_dir), defaults.state_dir);
  auto runtime =
      object.withDefault<fs::path>("runtime_dir", pathReader(diag, base_dir), defaults.runtime_dir);
  auto render = object.withDefault<fs::path>("render_dir", pathReader(diag, base_dir),
                                             state ? *state / "rendered" : defaults.render_dir);
  auto pki = object.withDefault<fs::path>("pki_dir", pathReader(diag, base_dir),
                                          state ? *state / "pki" : defaults.pki_dir);
  if (!state || !runtime || !render || !pki) return std::nullopt;
  return PathsConfig{*state, *runtime, *render, *pki};
}

std::optional<TincConfig> readTinc(ObjectReader& object, const PathsConfig& paths,
                                   const fs::path& base_dir, const FileReader& read_file) {
  auto& diag = object.diag();
  bool failed = false;
  auto netname = object.withDefault<NodeName>("netname", parsed<NodeName>(diag),
                                              *NodeName::parse("meshnet", nullptr));
  std::optional<InterfaceName> default_interface;
  if (netname) default_interface = InterfaceName::parse(netname->str(), nullptr);
  std::optional<InterfaceName> interface;
  if (default_interface) {
    interface = object.withDefault<InterfaceName>("interface", parsed<InterfaceName>(diag),
                                                  *default_interface);
  } else {
    interface = object.required<InterfaceName>("interface", parsed<InterfaceName>(diag));
  }
  auto address = object.required<Ipv4Address>("address", parsed<Ipv4Address>(diag));
  auto prefix = object.required<Cidr>("prefix", parsed<Cidr>(diag));
  auto address6 = object.optional<Ipv6Address>("address6", parsed<Ipv6Address>(diag), &failed);
  auto prefix6 = object.optional<Cidr6>("prefix6", parsed<Cidr6>(diag), &failed);
  auto port = object.withDefault<Port>("port", portReader(diag), *defaultPort(kDefaultTincPort));
  auto mode = object.withDefault<TincMode>(
      "mode",
      enumReader<TincMode>(
          diag,
          {{"router", TincMode::kRouter}, {"switch", TincMode::kSwitch}, {"hub", TincMode::kHub}}),
      TincMode::kSwitch);
  auto cipher = object.withDefault<std::string>("cipher", oneOf(diag, kCiphers), "aes-256-cbc");
  auto digest = object.withDefault<std::string>("digest", oneOf(diag, kDigests), "sha256");
  auto insecure = object.withDefault<bool>("insecure", boolReader(diag), false);
  auto compression = object.withDefault<int>("compression", intReader(diag, 0, 11), 0);
  auto key_size = object.withDefault<int>("key_size", intReader(diag, 2048, 8192), 3072);
  auto connect_to = object.withDefault<std::vector<NodeName>>(
      "connect_to", arrayOf<NodeName>(diag, parsed<NodeName>(diag), 64), {});
  auto endpoint = readEndpoint(object, port, &failed);
  auto private_key = object.withDefault<fs::path>("private_key_file", pathReader(diag, base_dir),
                                                  paths.state_dir / "tinc" / "rsa_key.priv");
  auto public_key_file = object.withDefault<fs::path>("public_key_file", pathReader(diag, base_dir),
                                                      paths.state_dir / "tinc" / "rsa_key.pub");
  if (failed || !netname || !interface || !address || !prefix || !port || !mode || !cipher ||
      !digest || !insecure.has_value() || !compression || !key_size || !connect_to ||
      !private_key || !public_key_file) {
    return std::nullopt;
  }
  std::optional<PublicKeyPem> public_key;
  if (auto text = read_file(*public_key_file)) {
    std::string why;
    public_key = PublicKeyPem::parse(*text, &why);
    if (!public_key) {
      diag.error(object.childPath("public_key_file"), "\"" + public_key_file->string() + "\"",
                 "holds a key that " + why);
      return std::nullopt;
    }
  }
  return TincConfig{.netname = *netname,
                    .interface = *interface,
                    .address = *address,
                    .prefix = *prefix,
                    .address6 = address6,
                    .prefix6 = prefix6,
                    .port = *port,
                    .mode = *mode,
                    .cipher = *cipher,
                    .digest = *digest,
                    .insecure = *insecure,
                    .compression = *compression,
                    .key_size = *key_size,
                    .connect_to = *connect_to,
                    .public_endpoint = endpoint,
                    .private_key_file = *private_key,
                    .public_key_file = *public_key_file,
                    .public_key = public_key};
}

ValueReader<Role> roleReader(Diagnostics& diag) {
  return enumReader<Role>(diag, {{"server", Role::kServer}, {"gateway", Role::kGateway}});
}

ValueReader<OfferedInstance> offeredReader(Diagnostics& diag) {
  return objectReader<OfferedInstance>(
      diag, [&diag](ObjectReader& object) -> std::optional<OfferedInstance> {
        auto name = object.required<NodeName>("name", parsed<NodeName>(diag));
        auto port = object.required<Port>("port", portReader(diag));
        auto proto = object.withDefault<Proto>(
            "proto", enumReader<Proto>(diag, {{"udp", Proto::kUdp}, {"tcp", Proto::kTcp}}),
            Proto::kUdp);
        if (!name || !port || !proto) return std::nullopt;
        return OfferedInstance{*name, *port, *proto};
      });
}

ValueReader<Host> hostReader(Diagnostics& diag, const fs::path& base_dir,
                             const FileReader& read_file) {
  return objectReader<Host>(
      diag, [&diag, base_dir, read_file](ObjectReader& object) -> std::optional<Host> {
        bool failed = false;
        auto name = object.required<NodeName>("name", parsed<NodeName>(diag));
        auto role = object.required<Role>("role", roleReader(diag));
        auto mesh_address = object.required<Ipv4Address>("mesh_address", parsed<Ipv4Address>(diag));
        auto mesh_address6 =
            object.optional<Ipv6Address>("mesh_address6", parsed<Ipv6Address>(diag), &failed);
        auto port =
            object.withDefault<Port>("port", portReader(diag), *defaultPort(kDefaultTincPort));
        auto endpoint = readEndpoint(object, port, &failed);
        auto keys = readKeySource(object, name, base_dir, read_file);
        auto subnets = object.withDefault<std::vector<Cidr>>(
            "client_subnets", arrayOf<Cidr>(diag, parsed<Cidr>(diag), 64), {});
        auto subnets6 = object.withDefault<std::vector<Cidr6>>(
            "client_subnets6", arrayOf<Cidr6>(diag, parsed<Cidr6>(diag), 64), {});
        auto offered = object.withDefault<std::vector<OfferedInstance>>(
            "openvpn", arrayOf<OfferedInstance>(diag, offeredReader(diag), 16), {});
        auto from_network = object.withDefault<bool>("from_network", boolReader(diag), false);
        if (failed || keys.failed || !name || !role || !mesh_address || !port || !subnets ||
            !subnets6 || !offered || !from_network.has_value()) {
          return std::nullopt;
        }
        return Host{.name = *name,
                    .role = *role,
                    .mesh_address = *mesh_address,
                    .mesh_address6 = mesh_address6,
                    .public_endpoint = endpoint,
                    .public_key = keys.key,
                    .public_key_file = keys.file,
                    .client_subnets = *subnets,
                    .client_subnets6 = *subnets6,
                    .openvpn = *offered,
                    .from_network = *from_network};
      });
}

ValueReader<OpenVpnInstance> openVpnReader(Diagnostics& diag) {
  return objectReader<OpenVpnInstance>(
      diag, [&diag](ObjectReader& object) -> std::optional<OpenVpnInstance> {
        auto name = object.required<NodeName>("name", parsed<NodeName>(diag));
        auto kind = object.required<InstanceKind>(
            "kind", enumReader<InstanceKind>(diag, {{"public", InstanceKind::kPublic},
                                                    {"private", InstanceKind::kPrivate}}));
        auto port = object.required<Port>("port", portReader(diag));
        auto proto = object.withDefault<Proto>(
            "proto", enumReader<Proto>(diag, {{"udp", Proto::kUdp}, {"tcp", Proto::kTcp}}),
            Proto::kUdp);
        auto subnet = object.required<Cidr>("subnet", parsed<Cidr>(diag));
        bool failed = false;
        auto subnet6 = object.optional<Cidr6>("subnet6", parsed<Cidr6>(diag), &failed);
        std::optional<InterfaceName> default_interface;
        if (name)
          default_interface = InterfaceName::parse(("vpn_" + name->str()).substr(0, 15), nullptr);
        auto interface = object.withDefault<InterfaceName>(
            "interface", parsed<InterfaceName>(diag),
            default_interface ? *default_interface : *InterfaceName::parse("vpn", nullptr));
        auto max_clients = object.withDefault<int>("max_clients", intReader(diag, 0, 65535), 0);
        auto rate = object.optional<Rate>("rate_limit", parsed<Rate>(diag), &failed);
        const bool is_public = kind && *kind == InstanceKind::kPublic;
        auto new_per_minute = object.withDefault<int>(
            "per_source_new_per_minute", intReader(diag, 0, 100000), is_public ? 20 : 0);
        auto connections = object.withDefault<int>("per_source_connections",
                                                   intReader(diag, 0, 65535), is_public ? 16 : 0);
        auto ping = object.withDefault<int>("ping_s", intReader(diag, 1, 60), 1);
        auto ping_restart = object.withDefault<int>("ping_restart_s", intReader(diag, 2, 3600), 4);
        auto quota = object.optional<Volume>("quota", parsed<Volume>(diag), &failed);
        if (failed || !name || !kind || !port || !proto || !subnet || !interface || !max_clients ||
            !new_per_minute || !connections || !ping || !ping_restart) {
          return std::nullopt;
        }
        return OpenVpnInstance{.name = *name,
                               .kind = *kind,
                               .port = *port,
                               .proto = *proto,
                               .subnet = *subnet,
                               .subnet6 = subnet6,
                               .interface = *interface,
                               .max_clients = *max_clients,
                               .rate_limit = rate,
                               .per_source_new_per_minute = *new_per_minute,
                               .per_source_connections = *connections,
                               .ping_s = *ping,
                               .ping_restart_s = *ping_restart,
                               .quota = quota};
      });
}

ValueReader<RouteVia> viaReader(Diagnostics& diag) {
  return objectReader<RouteVia>(diag, [&diag](ObjectReader& object) -> std::optional<RouteVia> {
    auto gateway = object.required<NodeName>("gateway", parsed<NodeName>(diag));
    auto weight = object.withDefault<int>("weight", intReader(diag, 1, 256), 1);
    auto priority = object.withDefault<int>("priority", intReader(diag, 0, 1000), 0);
    if (!gateway || !weight || !priority) return std::nullopt;
    return RouteVia{*gateway, *weight, *priority};
  });
}

ValueReader<RouteSet> routeSetReader(Diagnostics& diag) {
  return objectReader<RouteSet>(diag, [&diag](ObjectReader& object) -> std::optional<RouteSet> {
    auto name = object.required<NodeName>("name", parsed<NodeName>(diag));
    auto to = object.required<std::vector<IpPrefix>>(
        "to", arrayOf<IpPrefix>(diag, parsed<IpPrefix>(diag)));
    auto from = object.withDefault<std::vector<Cidr>>(
        "from", arrayOf<Cidr>(diag, parsed<Cidr>(diag), 64), {});
    // "via": a list of gateways, or "all_gateways" (every gateway known, the network's too).
    bool all_gateways = false;
    auto list = arrayOf<RouteVia>(diag, viaReader(diag), 64);
    ValueReader<std::vector<RouteVia>> either =
        [&diag, &all_gateways, list](
            const Json& value, const std::string& path) -> std::optional<std::vector<RouteVia>> {
      if (value.is_string()) {
        if (value.get<std::string>() == "all_gateways") {
          all_gateways = true;
          return std::vector<RouteVia>{};
        }
        diag.error(path, dumpForMessage(value),
                   "is neither a list of gateways nor \"all_gateways\"");
        return std::nullopt;
      }
      auto vias = list(value, path);
      if (vias && vias->empty()) {
        diag.error(path, "[]", "is empty (name at least one gateway, or say \"all_gateways\")");
        return std::nullopt;
      }
      return vias;
    };
    auto via = object.required<std::vector<RouteVia>>("via", either);
    auto policy = object.withDefault<RoutePolicy>(
        "policy",
        enumReader<RoutePolicy>(
            diag, {{"failover", RoutePolicy::kFailover}, {"balance", RoutePolicy::kBalance}}),
        RoutePolicy::kFailover);
    auto all_down = object.withDefault<AllDownPolicy>(
        "all_down",
        enumReader<AllDownPolicy>(diag, {{"unreachable", AllDownPolicy::kUnreachable},
                                         {"blackhole", AllDownPolicy::kBlackhole},
                                         {"keep", AllDownPolicy::kKeepLast}}),
        AllDownPolicy::kUnreachable);
    if (!name || !to || !from || !via || !policy || !all_down) return std::nullopt;
    return RouteSet{*name, *to, *from, *via, all_gateways, {}, *policy, *all_down};
  });
}

std::optional<HealthConfig> readHealth(ObjectReader& object) {
  auto& diag = object.diag();
  HealthConfig d;
  bool failed = false;
  auto interval = object.withDefault<int>("interval_ms", intReader(diag, 10, 60000), d.interval_ms);
  auto timeout = object.withDefault<int>("timeout_ms", intReader(diag, 10, 60000), d.timeout_ms);
  auto down_after = object.withDefault<int>("down_after", intReader(diag, 1, 100), d.down_after);
  auto up_after = object.withDefault<int>("up_after", intReader(diag, 1, 1000), d.up_after);
  auto warmup = object.withDefault<int>("warmup_ms", intReader(diag, 0, 600000), d.warmup_ms);
  auto burst = object.withDefault<int>("burst", intReader(diag, 0, 10), d.burst);
  auto through = object.optional<Ipv4Address>("through_target", parsed<Ipv4Address>(diag), &failed);
  auto through6 =
      object.optional<Ipv6Address>("through_target6", parsed<Ipv6Address>(diag), &failed);
  auto loss = object.withDefault<int>("loss_down_pct", intReader(diag, 0, 95), d.loss_down_pct);
  auto rtt = object.withDefault<int>("rtt_down_ms", intReader(diag, 0, 60000), d.rtt_down_ms);
  auto hold = object.withDefault<int>("flap_hold_ms", intReader(diag, 0, 3600000), d.flap_hold_ms);
  auto hold_max =
      object.withDefault<int>("flap_hold_max_ms", intReader(diag, 0, 86400000), d.flap_hold_max_ms);
  auto udp_port = object.optional<Port>("udp_port", portReader(diag), &failed);
  auto payload =
      object.withDefault<std::string>("udp_payload_hex", hexReader(diag, 512), d.udp_payload);
  if (failed || !interval || !timeout || !down_after || !up_after || !warmup || !burst || !loss ||
      !rtt || !hold || !hold_max || !payload) {
    return std::nullopt;
  }
  return HealthConfig{*interval, *timeout, *down_after, *up_after, *warmup,  *burst,   through,
                      *loss,     *rtt,     *hold,       *hold_max, udp_port, *payload, through6};
}

std::optional<RoutingConfig> readRouting(ObjectReader& object) {
  auto& diag = object.diag();
  RoutingConfig d;
  // 0..4 are the kernel's own (unspec, redirect, kernel, boot, static).
  auto protocol = object.withDefault<int>("protocol", intReader(diag, 5, 255), d.protocol);
  auto table =
      object.withDefault<int>("table_base", intReader(diag, 256, 1000000000), d.table_base);
  auto priority =
      object.withDefault<int>("rule_priority", intReader(diag, 1, 32000), d.rule_priority);
  auto resync = object.withDefault<int>("resync_ms", intReader(diag, 100, 3600000), d.resync_ms);
  auto forward_filter =
      object.withDefault<bool>("forward_filter", boolReader(diag), d.forward_filter);
  if (!protocol || !table || !priority || !resync || !forward_filter) return std::nullopt;
  return RoutingConfig{*protocol, *table, *priority, *resync, *forward_filter};
}

std::optional<StatusConfig> readStatus(ObjectReader& object, const fs::path& base_dir) {
  auto& diag = object.diag();
  bool failed = false;
  auto listen = object.withDefault<HostAddress>("listen", parsed<HostAddress>(diag),
                                                *HostAddress::parse("127.0.0.1", nullptr));
  if (listen && !Ipv4Address::parse(listen->str(), nullptr) &&
      listen->str().find(':') == std::string::npos) {
    diag.error(object.childPath("listen"), "\"" + listen->str() + "\"",
               "is not an IP address (the listener binds an address, not a name)");
    failed = true;
  }
  auto port = object.withDefault<Port>("port", portReader(diag), *defaultPort(kDefaultStatusPort));
  auto token = object.optional<fs::path>("token_file", pathReader(diag, base_dir), &failed);
  auto threads = object.withDefault<int>("threads", intReader(diag, 1, 64), 2);
  ValueReader<bool> boolean = [&diag](const Json& value, const std::string& path) {
    if (!value.is_boolean()) {
      diag.error(path, dumpForMessage(value), "is not true or false");
      return std::optional<bool>();
    }
    return std::optional<bool>(value.get<bool>());
  };
  auto enabled = object.withDefault<bool>("enabled", boolean, true);
  // Host header names (DNS names or IP literals) the listener answers besides its address.
  auto hosts = object.withDefault<std::vector<HostAddress>>(
      "hosts", arrayOf<HostAddress>(diag, parsed<HostAddress>(diag), 32), {});
  auto allow_public = object.withDefault<bool>("allow_public_clients", boolean, false);
  if (failed || !listen || !port || !threads || !enabled || !hosts || !allow_public) {
    return std::nullopt;
  }
  std::vector<std::string> names;
  for (const auto& host : *hosts) names.push_back(host.str());
  return StatusConfig{listen->str(), *port, token, *threads, *enabled, names, *allow_public};
}

// "ed25519:" and the base64 of 32 bytes (43 characters and one '='). network/signing checks
// the bytes themselves; this is the shape, so a typo is a config error naming the field.
bool looksLikeSigningKey(const std::string& text) {
  constexpr std::string_view kPrefix = "ed25519:";
  if (text.size() != kPrefix.size() + 44 || !text.starts_with(kPrefix) || text.back() != '=') {
    return false;
  }
  for (std::size_t i = kPrefix.size(); i + 1 < text.size(); ++i) {
    const char c = text[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  }
  return true;
}

std::optional<NetworkConfig> readNetwork(ObjectReader& object, const PathsConfig& paths,
                                         const fs::path& base_dir) {
  auto& diag = object.diag();
  bool failed = false;
  auto name = object.required<NodeName>("name", parsed<NodeName>(diag));
  auto registry = object.required<NodeName>("registry", parsed<NodeName>(diag));
  auto key = object.required<std::string>("key", stringReader(diag));
  if (key && !looksLikeSigningKey(*key)) {
    diag.error(object.childPath("key"), "\"" + key->substr(0, 60) + "\"",
               "is not the registry's public key (\"ed25519:\" and 44 base64 characters; "
               "`meshbroker network init` on the registry prints it)");
    failed = true;
  }
  auto port = object.withDefault<Port>("port", portReader(diag), *defaultPort(8656));
  auto poll = object.withDefault<int>("poll_ms", intReader(diag, 500, 3600000), 5000);
  auto join_port = object.withDefault<Port>("join_port", portReader(diag), *defaultPort(8657));
  auto signing = object.withDefault<fs::path>("signing_key_file", pathReader(diag, base_dir),
                                              paths.state_dir / "network" / "signing.key");
  if (failed || !name || !registry || !key || !port || !poll || !join_port || !signing) {
    return std::nullopt;
  }
  return NetworkConfig{*name, *registry, *key, *port, *poll, *join_port, *signing};
}

std::optional<SupervisorConfig> readSupervisor(ObjectReader& object, const fs::path& base_dir) {
  auto& diag = object.diag();
  SupervisorConfig d;
  auto tincd = object.withDefault<fs::path>("tincd", pathReader(diag, base_dir), d.tincd);
  auto openvpn = object.withDefault<fs::path>("openvpn", pathReader(diag, base_dir), d.openvpn);
  auto debug = object.withDefault<int>("tinc_debug", intReader(diag, 0, 5), d.tinc_debug);
  auto crashes = object.withDefault<int>("max_crashes", intReader(diag, 0, 1000), d.max_crashes);
  auto base =
      object.withDefault<int>("restart_base_ms", intReader(diag, 10, 600000), d.restart_base_ms);
  auto max =
      object.withDefault<int>("restart_max_ms", intReader(diag, 10, 3600000), d.restart_max_ms);
  auto healthy = object.withDefault<int>("healthy_after_ms", intReader(diag, 100, 3600000),
                                         d.healthy_after_ms);
  auto ready =
      object.withDefault<int>("ready_timeout_ms", intReader(diag, 100, 600000), d.ready_timeout_ms);
  auto stop =
      object.withDefault<int>("stop_timeout_ms", intReader(diag, 100, 600000), d.stop_timeout_ms);
  auto lines = object.withDefault<int>("log_lines", intReader(diag, 0, 10000), d.log_lines);
  auto status = object.withDefault<int>("openvpn_status_interval_ms", intReader(diag, 100, 3600000),
                                        d.openvpn_status_interval_ms);
  auto nft = object.withDefault<fs::path>("nft", pathReader(diag, base_dir), d.nft);
  auto tinc_user = object.withDefault<std::string>("tinc_user", userNameReader(diag), d.tinc_user);
  auto openvpn_user =
      object.withDefault<std::string>("openvpn_user", userNameReader(diag), d.openvpn_user);
  if (!tincd || !openvpn || !debug || !crashes || !base || !max || !healthy || !ready || !stop ||
      !lines || !status || !tinc_user || !openvpn_user || !nft) {
    return std::nullopt;
  }
  if (*max < *base) {
    diag.error(object.childPath("restart_max_ms"), std::to_string(*max),
               "is smaller than restart_base_ms (" + std::to_string(*base) + ")");
    return std::nullopt;
  }
  return SupervisorConfig{*tincd,   *openvpn, *nft,  *debug, *crashes, *base,      *max,
                          *healthy, *ready,   *stop, *lines, *status,  *tinc_user, *openvpn_user};
}

// Reads an optional sub-object with build(); absent means build() on an empty object.
template <class T>
std::optional<T> section(ObjectReader& parent, std::string_view key,
                         const std::function<std::optional<T>(ObjectReader&)>& build) {
  static const Json kEmpty = Json::object();
  const Json* value = parent.find(key);
  ObjectReader object(value ? *value : kEmpty, parent.childPath(key), parent.diag());
  if (!object.ok()) return std::nullopt;
  auto result = build(object);
  object.finish();
  return result;
}

}  // namespace

LoadResult parseConfig(std::string_view text, const fs::path& base_dir,
                       const FileReader& read_file) {
  if (looksLikeUci(text)) {  // OpenWrt's /etc/config/meshbroker: read as JSON, named as UCI
    auto uci = parseUci(text);
    if (!uci.document) {
      LoadResult refused;
      refused.diagnostics.error("", "", "is not valid UCI: " + uci.error);
      return refused;
    }
    auto result = parseConfig(uci.document->json.dump(), base_dir, read_file);
    result.diagnostics.rewrite(
        [&](const std::string& pointer) { return uciName(*uci.document, pointer); },
        [&](const std::string& message) { return uciNamesIn(*uci.document, message); });
    return result;
  }
  LoadResult result;
  Diagnostics& diag = result.diagnostics;
  Json root;
  try {
    root = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    // At the field where it fails (a number too large for a double, say), when it is in one.
    diag.error(errorPointer(text), "", std::string("is not valid JSON: ") + e.what());
    return result;
  }
  ObjectReader top(root, "", diag);
  if (!top.ok()) return result;

  auto name = top.required<NodeName>("name", parsed<NodeName>(diag));
  auto role = top.required<Role>("role", roleReader(diag));
  auto paths =
      section<PathsConfig>(top, "paths", [&](ObjectReader& o) { return readPaths(o, base_dir); });
  std::optional<TincConfig> tinc;
  if (const Json* value = top.find("tinc")) {
    ObjectReader object(*value, "/tinc", diag);
    if (object.ok() && paths) tinc = readTinc(object, *paths, base_dir, read_file);
    object.finish();
  } else {
    diag.error("/tinc", "", "is missing");
  }
  auto hosts = top.withDefault<std::vector<Host>>(
      "hosts", arrayOf<Host>(diag, hostReader(diag, base_dir, read_file), 1024), {});
  auto openvpn = top.withDefault<std::vector<OpenVpnInstance>>(
      "openvpn", arrayOf<OpenVpnInstance>(diag, openVpnReader(diag), 16), {});
  auto routes = top.withDefault<std::vector<RouteSet>>(
      "routes", arrayOf<RouteSet>(diag, routeSetReader(diag), 64), {});
  auto health = section<HealthConfig>(top, "health", readHealth);
  auto routing = section<RoutingConfig>(top, "routing", readRouting);
  auto status = section<StatusConfig>(top, "status",
                                      [&](ObjectReader& o) { return readStatus(o, base_dir); });
  auto supervisor = section<SupervisorConfig>(
      top, "supervisor", [&](ObjectReader& o) { return readSupervisor(o, base_dir); });
  std::optional<NetworkConfig> network;
  bool network_failed = false;
  if (const Json* value = top.find("network")) {
    ObjectReader object(*value, "/network", diag);
    if (object.ok() && paths) network = readNetwork(object, *paths, base_dir);
    network_failed = !network;
    object.finish();
  }
  top.finish();

  if (diag.hasErrors() || !name || !role || !paths || !tinc || !hosts || !openvpn || !routes ||
      !health || !routing || !status || !supervisor || network_failed) {
    return result;
  }
  NodeConfig config{.name = *name,
                    .role = *role,
                    .tinc = std::move(*tinc),
                    .hosts = std::move(*hosts),
                    .openvpn = std::move(*openvpn),
                    .routes = std::move(*routes),
                    .health = *health,
                    .routing = *routing,
                    .status = *status,
                    .paths = *paths,
                    .supervisor = *supervisor,
                    .network = std::move(network)};
  resolveAllGateways(config);
  validate(config, diag);
  if (!diag.hasErrors()) result.config = std::move(config);
  return result;
}

std::optional<std::string> readSmallFile(const fs::path& file, std::size_t max_bytes) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  auto size = fs::file_size(file, ec);
  if (ec || size > max_bytes) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

LoadResult loadConfigFile(const fs::path& file) {
  auto text = readSmallFile(file);
  if (!text) {
    LoadResult result;
    std::error_code ec;
    std::string why =
        fs::exists(file, ec) ? "cannot be read (or is larger than 1 MiB)" : "does not exist";
    result.diagnostics.error("", "", why);
    return result;
  }
  auto base_dir = fs::absolute(file).parent_path();
  return parseConfig(*text, base_dir, [](const fs::path& p) { return readSmallFile(p, 64 << 10); });
}

}  // namespace meshbroker::config
