// File: base/utf8.h
//
// Well-formed UTF-8, as Unicode's table 3-7 defines it: the one decoder the YAML reader (which
// refuses text that is not UTF-8) and the CLI's one-line errors (which escape what is not) share.
//
//   size_t n = Utf8CharLength(text, i);  // 1 to 4; 0 where no well-formed character starts
#pragma once

#include <cstddef>
#include <string_view>

namespace preflight {

// The length of the well-formed UTF-8 character at `s[i]`: 1 for ASCII, 2 to 4 for the rest (no
// overlong form, surrogate, code point above U+10FFFF or character cut short), 0 where the byte
// begins none.
inline size_t Utf8CharLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  const size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  const unsigned char second = byte(i + 1);
  if ((c == 0xE0 && second < 0xA0) || (c == 0xF0 && second < 0x90)) return 0;  // overlong
  if (c == 0xED && second >= 0xA0) return 0;                                   // surrogates
  if (c == 0xF4 && second >= 0x90) return 0;                                   // above U+10FFFF
  return n;
}

}  // namespace preflight
