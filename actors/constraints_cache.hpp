#pragma once

// What is made once per task constraints (a needle set for a rubric and its
// requirements, and what each needle stands for) and kept for the last few
// constraints seen: the SCORER's matchers and the `scripted` critiques'
// needles. The proposals of one deliberation, and the tasks of one plan,
// share their constraints, so a value is made once and used many times.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "messages/messages.hpp"

namespace orch {

/// The values made for the last `Kept` distinct (rubric, requirements),
/// most recently used first.
template<class T, size_t Kept>
class constraints_cache {
public:
  /// The value for `c`: the kept one, or `make()`'s, kept from now on.
  template<class Make>
  const T& get(const constraints& c, Make make) {
    for (size_t i = 0; i < xs_.size(); ++i) {
      auto& x = xs_[i];
      if (x.rubric == c.rubric && x.requirements == c.requirements) {
        std::rotate(xs_.begin(), xs_.begin() + static_cast<ptrdiff_t>(i),
                    xs_.begin() + static_cast<ptrdiff_t>(i) + 1);
        return *xs_.front().value;
      }
    }
    xs_.insert(xs_.begin(), kept{c.rubric, c.requirements,
                                 std::make_shared<T>(make())});
    if (xs_.size() > Kept)
      xs_.pop_back();
    return *xs_.front().value;
  }

private:
  struct kept {
    std::string rubric;
    std::vector<std::string> requirements;
    /// Shared so that `T` may be incomplete where the cache is declared.
    std::shared_ptr<T> value;
  };

  std::vector<kept> xs_;
};

} // namespace orch
