// Reads typed values out of nlohmann::json while recording problems with their JSON paths.
#pragma once

#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/diagnostics.hpp"

namespace meshbroker::config {

using Json = nlohmann::json;

// Reads one value at a JSON path; returns nullopt (after recording why) when it is invalid.
template <class T>
using ValueReader = std::function<std::optional<T>(const Json&, const std::string&)>;

// One JSON object being read. Every key the code asks for is marked as known; finish()
// reports the rest as unknown keys, with a suggestion for near misses.
class ObjectReader {
 public:
  ObjectReader(const Json& object, std::string path, Diagnostics& diag);

  bool ok() const { return object_ != nullptr; }
  const std::string& path() const { return path_; }
  Diagnostics& diag() { return diag_; }
  std::string childPath(std::string_view key) const;

  // The raw value of key, or nullptr when absent. Marks key as known.
  const Json* find(std::string_view key);

  // Value of key read by reader; nullopt if absent or invalid. `failed` is set if invalid.
  template <class T>
  std::optional<T> optional(std::string_view key, const ValueReader<T>& reader, bool* failed) {
    const Json* value = find(key);
    if (!value) return std::nullopt;
    auto result = reader(*value, childPath(key));
    if (!result && failed) *failed = true;
    return result;
  }

  // Like optional(), but records "is missing" when absent.
  template <class T>
  std::optional<T> required(std::string_view key, const ValueReader<T>& reader) {
    const Json* value = find(key);
    if (!value) {
      diag_.error(childPath(key), "", "is missing");
      return std::nullopt;
    }
    return reader(*value, childPath(key));
  }

  // Value of key, the default when absent; nullopt only when present and invalid.
  template <class T>
  std::optional<T> withDefault(std::string_view key, const ValueReader<T>& reader, T fallback) {
    const Json* value = find(key);
    if (!value) return fallback;
    return reader(*value, childPath(key));
  }

  // Reports keys that were never asked for.
  void finish();

 private:
  const Json* object_ = nullptr;
  std::string path_;
  Diagnostics& diag_;
  std::set<std::string, std::less<>> known_;
};

// JSON value as shown in messages.
std::string dumpForMessage(const Json& value);

// Where parsing text as JSON fails, as a JSON pointer (nlohmann reports only a byte offset):
// "/hosts/0/port" for a number too large in that field. "" at the top or when text parses.
std::string errorPointer(std::string_view text);

// Readers for the basic JSON types. Strings are checked for control characters here, once,
// for every string field.
std::optional<std::string> readString(const Json& value, const std::string& path,
                                      Diagnostics& diag);
std::optional<std::int64_t> readInt(const Json& value, const std::string& path, Diagnostics& diag,
                                    std::int64_t min, std::int64_t max);

// A reader that parses a string with Type::parse(text, &why).
template <class T>
ValueReader<T> parsed(Diagnostics& diag) {
  return [&diag](const Json& value, const std::string& path) -> std::optional<T> {
    auto text = readString(value, path, diag);
    if (!text) return std::nullopt;
    std::string why;
    auto result = T::parse(*text, &why);
    if (!result) diag.error(path, dumpForMessage(value), why);
    return result;
  };
}

ValueReader<std::string> stringReader(Diagnostics& diag);
ValueReader<int> intReader(Diagnostics& diag, int min, int max);

// A reader for a string that must be one of the given names.
template <class E>
ValueReader<E> enumReader(Diagnostics& diag, std::vector<std::pair<std::string, E>> names) {
  return [&diag, names](const Json& value, const std::string& path) -> std::optional<E> {
    auto text = readString(value, path, diag);
    if (!text) return std::nullopt;
    std::string choices;
    for (const auto& [name, e] : names) {
      if (name == *text) return e;
      choices += (choices.empty() ? "" : ", ") + name;
    }
    diag.error(path, dumpForMessage(value), "is not one of: " + choices);
    return std::nullopt;
  };
}

// A reader for an array whose every element is read by element. nullopt if any is invalid.
template <class T>
ValueReader<std::vector<T>> arrayOf(Diagnostics& diag, ValueReader<T> element,
                                    std::size_t max_items = 1024) {
  return [&diag, element, max_items](const Json& value,
                                     const std::string& path) -> std::optional<std::vector<T>> {
    if (!value.is_array()) {
      diag.error(path, dumpForMessage(value), "is not an array");
      return std::nullopt;
    }
    if (value.size() > max_items) {
      diag.error(path, "",
                 "has " + std::to_string(value.size()) + " items; at most " +
                     std::to_string(max_items) + " are allowed");
      return std::nullopt;
    }
    std::vector<T> items;
    bool all_ok = true;
    for (std::size_t i = 0; i < value.size(); ++i) {
      auto item = element(value[i], path + "/" + std::to_string(i));
      if (item) {
        items.push_back(std::move(*item));
      } else {
        all_ok = false;
      }
    }
    if (!all_ok) return std::nullopt;
    return items;
  };
}

}  // namespace meshbroker::config
