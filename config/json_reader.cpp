// ObjectReader and the basic value readers.
#include "config/json_reader.hpp"

#include <algorithm>
#include <utility>

#include "config/types.hpp"

namespace meshbroker::config {
namespace {

// Levenshtein distance, to suggest the key a typo meant.
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// JSON pointer escaping (RFC 6901) so a key with '/' or '~' cannot fake a path.
std::string escapePointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Follows the parser's position as a stack of object keys and array indices.
class PathTracker : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    levels_.push_back({});
    return true;
  }
  bool key(string_t& key) override {
    levels_.back().key = key;
    levels_.back().has_key = true;
    return true;
  }
  bool end_object() override {
    levels_.pop_back();
    return value();
  }
  bool start_array(std::size_t) override {
    Level level;
    level.array = true;
    levels_.push_back(std::move(level));
    return true;
  }
  bool end_array() override {
    levels_.pop_back();
    return value();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    for (const auto& level : levels_) {
      if (level.array) {
        error_path_ += "/" + std::to_string(level.index);
      } else if (level.has_key) {
        error_path_ += "/" + escapePointerToken(level.key);
      }
    }
    return false;
  }
  const std::string& errorPath() const { return error_path_; }

 private:
  struct Level {
    bool array = false;
    std::size_t index = 0;  // arrays: the element being read
    bool has_key = false;
    std::string key;  // objects: the member being read
  };
  // A value ended: an array moves on to its next element.
  bool value() {
    if (!levels_.empty() && levels_.back().array) ++levels_.back().index;
    return true;
  }
  std::vector<Level> levels_;
  std::string error_path_;
};

}  // namespace

std::string errorPointer(std::string_view text) {
  PathTracker tracker;
  Json::sax_parse(text.begin(), text.end(), &tracker, nlohmann::detail::input_format_t::json,
                  /*strict=*/true, /*ignore_comments=*/false);
  return tracker.errorPath();
}

std::string dumpForMessage(const Json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
}

ObjectReader::ObjectReader(const Json& object, std::string path, Diagnostics& diag)
    : path_(std::move(path)), diag_(diag) {
  if (object.is_object()) {
    object_ = &object;
  } else {
    diag_.error(path_, dumpForMessage(object), "is not an object");
  }
}

std::string ObjectReader::childPath(std::string_view key) const {
  return path_ + "/" + escapePointerToken(key);
}

const Json* ObjectReader::find(std::string_view key) {
  known_.emplace(key);
  if (!object_) return nullptr;
  auto it = object_->find(key);
  return it == object_->end() ? nullptr : &*it;
}

void ObjectReader::finish() {
  if (!object_) return;
  for (const auto& [key, value] : object_->items()) {
    if (known_.contains(key)) continue;
    std::string message = "unknown key";
    std::string best;
    std::size_t best_distance = 3;
    for (const auto& candidate : known_) {
      std::size_t distance = editDistance(key, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
    if (!best.empty()) message += " (did you mean \"" + best + "\"?)";
    std::string known_list;
    if (best.empty()) {
      for (const auto& candidate : known_)
        known_list += (known_list.empty() ? "" : ", ") + candidate;
      message += " (known keys here: " + known_list + ")";
    }
    diag_.error(childPath(key), "", message);
  }
}

std::optional<std::string> readString(const Json& value, const std::string& path,
                                      Diagnostics& diag) {
  if (!value.is_string()) {
    diag.error(path, dumpForMessage(value), "is not a string");
    return std::nullopt;
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text.size() > 4096) {
    diag.error(path, dumpForMessage(value), "is too long (at most 4096 characters)");
    return std::nullopt;
  }
  if (auto pos = findControlCharacter(text)) {
    diag.error(path, dumpForMessage(value),
               "contains a control character at offset " + std::to_string(*pos) +
                   " (newlines and other control characters are never allowed in a value)");
    return std::nullopt;
  }
  return text;
}

std::optional<std::int64_t> readInt(const Json& value, const std::string& path, Diagnostics& diag,
                                    std::int64_t min, std::int64_t max) {
  if (!value.is_number_integer()) {
    diag.error(path, dumpForMessage(value), "is not a whole number");
    return std::nullopt;
  }
  std::int64_t number = 0;
  if (value.is_number_unsigned()) {
    auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max)) {
      diag.error(path, dumpForMessage(value),
                 "is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
      return std::nullopt;
    }
    number = static_cast<std::int64_t>(u);
  } else {
    number = value.get<std::int64_t>();
  }
  if (number < min || number > max) {
    diag.error(path, dumpForMessage(value),
               "is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
    return std::nullopt;
  }
  return number;
}

ValueReader<std::string> stringReader(Diagnostics& diag) {
  return
      [&diag](const Json& value, const std::string& path) { return readString(value, path, diag); };
}

ValueReader<int> intReader(Diagnostics& diag, int min, int max) {
  return [&diag, min, max](const Json& value, const std::string& path) -> std::optional<int> {
    auto number = readInt(value, path, diag, min, max);
    if (!number) return std::nullopt;
    return static_cast<int>(*number);
  };
}

}  // namespace meshbroker::config
