// Small statistics the bench programs share.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace meshbroker::bench {

// The p-quantile (0..1) of the samples, nearest rank below; 0 for no samples.
inline double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  return samples[static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1))];
}

}  // namespace meshbroker::bench
