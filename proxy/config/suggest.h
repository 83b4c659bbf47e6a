#pragma once

// "Did you mean ...?" for misspelt keys and names: the closest candidate by
// edit distance, if it is close enough to be a plausible typo.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

// Levenshtein distance, ignoring ASCII case.
size_t editDistance(std::string_view a, std::string_view b);

// The candidate nearest to `word`, when at most max(1, |word| / 3) edits away
// (ties: the first candidate); nullopt otherwise.
std::optional<std::string> closestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace sluice::config
