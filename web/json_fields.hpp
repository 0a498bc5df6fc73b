// Tolerant reads of the status document for the renderers: a missing or mistyped field gives
// an empty value instead of an exception, so a surprising snapshot never breaks a response.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace meshbroker::web {

// object[key], or null when object is not an object or has no such key.
inline const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json null;
  if (!object.is_object()) return null;
  auto it = object.find(key);
  return it == object.end() ? null : *it;
}

// object[key] when it is an array, else an empty array.
inline const nlohmann::json& arrayAt(const nlohmann::json& object, const char* key) {
  static const nlohmann::json empty = nlohmann::json::array();
  const auto& value = member(object, key);
  return value.is_array() ? value : empty;
}

// object[key] as text: a string as is, an integer in decimal, anything else "".
inline std::string textAt(const nlohmann::json& object, const char* key) {
  const auto& value = member(object, key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  return {};
}

// object[key] as a number (0 when it is not one).
inline double numberAt(const nlohmann::json& object, const char* key) {
  const auto& value = member(object, key);
  return value.is_number() ? value.get<double>() : 0.0;
}

inline std::int64_t integerAt(const nlohmann::json& object, const char* key) {
  const auto& value = member(object, key);
  return value.is_number() ? value.get<std::int64_t>() : 0;
}

}  // namespace meshbroker::web
