#pragma once

// The logger's levels, apart from the logger so config/ can name them (the
// `log.level` key) without pulling the logger in.

namespace sluice::log {

enum class Level { Error, Warn, Info, Debug };

}  // namespace sluice::log
