// File: base/status.h
//
// Status and StatusOr<T>: how fallible work reports failure without exceptions.
// GCC 12 has no std::expected in C++20, so preflight keeps this small one.
//
//   StatusOr<int> ParsePositive(std::string_view s);
//   ASSIGN_OR_RETURN(int n, ParsePositive(text));   // returns the error upward
//   RETURN_IF_ERROR(Validate(plan));
//
// A Status names what went wrong in one line that a user can act on:
// "<file>: <field>: expected <what>, got <what>".
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "preflight/base/check.h"

namespace preflight {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad user input: file, field, value
  kNotFound,         // a file or catalog id that does not exist
  kInternal,         // a bug; should not happen
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<prefix>: <message>". Used to add the file or field
  // that a nested error belongs to.
  Status WithPrefix(const std::string& prefix) const {
    if (ok()) return *this;
    return Status(code_, prefix + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
inline Status NotFound(std::string message) {
  return Status(StatusCode::kNotFound, std::move(message));
}
inline Status Internal(std::string message) {
  return Status(StatusCode::kInternal, std::move(message));
}

// Holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : data_(std::move(status)) {  // NOLINT
    CHECK(!std::get<Status>(data_).ok()) << "StatusOr built from an OK Status";
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  Status status() const { return ok() ? Status() : std::get<Status>(data_); }

  // REQUIRES: ok().
  const T& value() const& {
    CHECK(ok()) << status().message();
    return std::get<T>(data_);
  }
  T& value() & {
    CHECK(ok()) << status().message();
    return std::get<T>(data_);
  }
  T&& value() && {
    CHECK(ok()) << status().message();
    return std::get<T>(std::move(data_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<Status, T> data_;
};

}  // namespace preflight

#define PREFLIGHT_CONCAT_INNER(a, b) a##b
#define PREFLIGHT_CONCAT(a, b) PREFLIGHT_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                       \
  do {                                              \
    ::preflight::Status _preflight_st = (expr);     \
    if (!_preflight_st.ok()) return _preflight_st;  \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(PREFLIGHT_CONCAT(_preflight_or_, __LINE__), lhs, expr)
