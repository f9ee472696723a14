#include "preflight/search/internal/space.h"

#include <algorithm>
#include <vector>

namespace preflight::search_internal {

// The divisors of n in increasing order, up to max_value (0: all), found in O(sqrt n).
std::vector<int64_t> Divisors(int64_t n, int64_t max_value) {
  std::vector<int64_t> low, high;  // i and n / i for each divisor i up to the square root
  for (int64_t i = 1; i <= n / i; ++i) {
    if (n % i != 0) continue;
    low.push_back(i);
    if (i != n / i) high.push_back(n / i);
  }
  low.insert(low.end(), high.rbegin(), high.rend());
  if (max_value > 0) low.erase(std::upper_bound(low.begin(), low.end(), max_value), low.end());
  return low;
}

}  // namespace preflight::search_internal
