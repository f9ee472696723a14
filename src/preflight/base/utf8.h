// File: base/utf8.h
//
// Well-formed UTF-8, as Unicode's table 3-7 defines it: the one decoder the YAML reader (which
// refuses text that is not UTF-8) and the CLI's one-line errors (which escape what is not) share,
// and the one list of the characters neither shows as text.
//
//   size_t n = Utf8CharLength(text, i);     // 1 to 4; 0 where no well-formed character starts
//   size_t c = Utf8ControlLength(text, i);  // 2 or 3 for a C1, separator or bidi control; else 0
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

// The length of the non-ASCII character at `s[i]` that a terminal or log reader does not show as
// text: 2 for a C1 control (U+0080-U+009F), which a terminal acts on; 3 for the line and paragraph
// separators U+2028 and U+2029, which break a line in a log reader, and for the bidirectional
// controls U+200E, U+200F, U+202A-U+202E and U+2066-U+2069, which reorder the text shown after them
// (a key echoed in an error would read as another); 0 for anything else (ASCII included).
inline size_t Utf8ControlLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (byte(0) == 0xC2 && byte(1) >= 0x80 && byte(1) <= 0x9F) return 2;
  if (byte(0) != 0xE2) return 0;
  const unsigned char b1 = byte(1), b2 = byte(2);
  if (b1 == 0x80 && (b2 == 0xA8 || b2 == 0xA9 || b2 == 0x8E || b2 == 0x8F || (b2 >= 0xAA && b2 <= 0xAE))) return 3;
  if (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9) return 3;
  return 0;
}

}  // namespace preflight
