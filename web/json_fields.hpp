// Reads of the status document for the renderers (page, metrics). The document comes from
// web::document in this process, so a missing field or a field of the wrong type is our bug,
// not a value to paper over: each read throws DocumentError naming the field, the router
// answers 500 and logs it, and the renderers' tests fail. null is the document's "no value"
// and reads as empty. A field the document leaves out on purpose (what the public view omits,
// what a gateway does not have) is read with optionalMember(), which says so at the call.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace meshbroker::web {

struct DocumentError : std::logic_error {
  using std::logic_error::logic_error;
};

// object[key]; throws when object is not an object or has no such key.
inline const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) {
    throw DocumentError(std::string("status document: '") + key + "' read from a " +
                        object.type_name() + ", not an object");
  }
  auto it = object.find(key);
  if (it == object.end()) throw DocumentError(std::string("status document: no '") + key + "'");
  return *it;
}

// object[key], or null when the key is absent (for fields the document may leave out).
inline const nlohmann::json& optionalMember(const nlohmann::json& object, const char* key) {
  static const nlohmann::json null;
  if (!object.is_object()) return member(object, key);  // throws: not an object
  auto it = object.find(key);
  return it == object.end() ? null : *it;
}

namespace detail {
[[noreturn]] inline void wrongType(const char* key, const nlohmann::json& value, const char* want) {
  throw DocumentError(std::string("status document: '") + key + "' is a " + value.type_name() +
                      ", not " + want);
}
}  // namespace detail

// An array (null: empty).
inline const nlohmann::json& arrayOf(const nlohmann::json& value, const char* key) {
  static const nlohmann::json empty = nlohmann::json::array();
  if (value.is_null()) return empty;
  if (!value.is_array()) detail::wrongType(key, value, "an array");
  return value;
}
inline const nlohmann::json& arrayAt(const nlohmann::json& object, const char* key) {
  return arrayOf(member(object, key), key);
}

// Text: a string as is, an integer in decimal, null "".
inline std::string textAt(const nlohmann::json& object, const char* key) {
  const auto& value = member(object, key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  if (value.is_null()) return {};
  detail::wrongType(key, value, "text");
}

// Text of a field the document may leave out ("" when absent).
inline std::string optionalTextAt(const nlohmann::json& object, const char* key) {
  return optionalMember(object, key).is_null() ? std::string() : textAt(object, key);
}

// A number (null: 0).
inline double numberAt(const nlohmann::json& object, const char* key) {
  const auto& value = member(object, key);
  if (value.is_number()) return value.get<double>();
  if (value.is_null()) return 0.0;
  detail::wrongType(key, value, "a number");
}

inline std::int64_t integerAt(const nlohmann::json& object, const char* key) {
  const auto& value = member(object, key);
  if (value.is_number()) return value.get<std::int64_t>();
  if (value.is_null()) return 0;
  detail::wrongType(key, value, "a number");
}

// A boolean (null: false).
inline bool boolAt(const nlohmann::json& object, const char* key) {
  const auto& value = member(object, key);
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_null()) return false;
  detail::wrongType(key, value, "a boolean");
}

}  // namespace meshbroker::web
