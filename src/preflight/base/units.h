// File: base/units.h
//
// Units as types. A quantity carries its unit in its type, so that dividing bytes by a
// bandwidth yields seconds and adding seconds to bytes does not compile.
//
//   Bytes b = Bytes::GiB(80);
//   Seconds t = b / BytesPerSecond::GBps(450);     // 0.19 s
//   Seconds c = Flops(6e15) / FlopsPerSecond::TFlops(989);
//
// All values are doubles in SI base units (bytes, seconds, FLOPs).
#pragma once

#include <compare>

namespace preflight {

// A double tagged with a unit. Same-unit quantities add, subtract and compare; scaling by a
// plain double keeps the unit; dividing two of the same unit gives a plain ratio.
template <typename Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : v_(v) {}
  constexpr double value() const { return v_; }

  constexpr Quantity operator+(Quantity o) const { return Quantity(v_ + o.v_); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(v_ - o.v_); }
  constexpr Quantity& operator+=(Quantity o) {
    v_ += o.v_;
    return *this;
  }
  constexpr Quantity operator*(double k) const { return Quantity(v_ * k); }
  constexpr Quantity operator/(double k) const { return Quantity(v_ / k); }
  constexpr double operator/(Quantity o) const { return v_ / o.v_; }
  constexpr auto operator<=>(const Quantity&) const = default;

 private:
  double v_ = 0;
};

template <typename Tag>
constexpr Quantity<Tag> operator*(double k, Quantity<Tag> q) {
  return q * k;
}

struct BytesTag {};
struct SecondsTag {};
struct FlopsTag {};
struct FlopsPerSecondTag {};
struct BytesPerSecondTag {};

struct Bytes : Quantity<BytesTag> {
  using Quantity::Quantity;
  constexpr Bytes(Quantity<BytesTag> q) : Quantity(q) {}  // NOLINT
  static constexpr Bytes GiB(double g) { return Bytes(g * 1073741824.0); }
  static constexpr Bytes GB(double g) { return Bytes(g * 1e9); }
  constexpr double gib() const { return value() / 1073741824.0; }
};

struct Seconds : Quantity<SecondsTag> {
  using Quantity::Quantity;
  constexpr Seconds(Quantity<SecondsTag> q) : Quantity(q) {}  // NOLINT
};

struct Flops : Quantity<FlopsTag> {
  using Quantity::Quantity;
  constexpr Flops(Quantity<FlopsTag> q) : Quantity(q) {}  // NOLINT
};

struct FlopsPerSecond : Quantity<FlopsPerSecondTag> {
  using Quantity::Quantity;
  constexpr FlopsPerSecond(Quantity<FlopsPerSecondTag> q) : Quantity(q) {}  // NOLINT
  static constexpr FlopsPerSecond TFlops(double t) { return FlopsPerSecond(t * 1e12); }
  constexpr double tflops() const { return value() / 1e12; }
};

struct BytesPerSecond : Quantity<BytesPerSecondTag> {
  using Quantity::Quantity;
  constexpr BytesPerSecond(Quantity<BytesPerSecondTag> q) : Quantity(q) {}  // NOLINT
  static constexpr BytesPerSecond GBps(double g) { return BytesPerSecond(g * 1e9); }
  static constexpr BytesPerSecond Gbitps(double g) { return BytesPerSecond(g * 1e9 / 8); }
};

constexpr Seconds operator/(Flops f, FlopsPerSecond r) { return Seconds(f.value() / r.value()); }
constexpr Seconds operator/(Bytes b, BytesPerSecond r) { return Seconds(b.value() / r.value()); }

}  // namespace preflight
