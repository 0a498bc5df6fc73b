// One server first: see first_dial.hpp.
#include "supervisor/first_dial.hpp"

#include <sstream>

namespace meshbroker::supervisor {
namespace {

bool isConnectTo(const std::string& line) { return line.starts_with("ConnectTo"); }

}  // namespace

std::string firstDialOnly(const std::string& tinc_conf) {
  std::istringstream in(tinc_conf);
  std::string out, line;
  bool seen = false;
  while (std::getline(in, line)) {
    if (isConnectTo(line)) {
      if (seen) continue;
      seen = true;
    }
    out += line;
    if (!in.eof()) out += "\n";
  }
  return out;
}

std::string firstDial(const std::string& tinc_conf) {
  std::istringstream in(tinc_conf);
  std::string line;
  while (std::getline(in, line)) {
    if (!isConnectTo(line)) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) return "";
    auto name = line.substr(eq + 1);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t\r") + 1);
    return name;
  }
  return "";
}

}  // namespace meshbroker::supervisor
