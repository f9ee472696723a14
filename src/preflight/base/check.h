// File: base/check.h
//
// CHECK(cond) << "message": an always-on assertion for bugs (never for user input, which gets
// a Status). On failure it prints the file, line, condition and message, then aborts.
#pragma once

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace preflight::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    stream_ << file << ":" << line << ": CHECK failed: " << condition << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << stream_.str() << std::endl;
    std::abort();
  }
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Lets `CHECK(x) << ...` compile to nothing when x holds.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace preflight::internal

#define CHECK(condition)                                    \
  (condition) ? (void)0                                     \
              : ::preflight::internal::Voidify() &          \
                    ::preflight::internal::CheckFailure(__FILE__, __LINE__, #condition).stream()
