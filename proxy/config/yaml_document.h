#pragma once

// YAML text -> the one document of a config file, around yaml-cpp 0.7's
// quirks. YAML::LoadAll can loop forever: on input such as "&a c\n? " its
// parser reports an endless run of empty documents. So the first document is
// loaded with YAML::Load (which stops after one), and a second parser pass
// looks at no more than the next document to reject files holding two.

#include <string>

#include <yaml-cpp/yaml.h>

#include "config/diagnostics.h"

namespace sluice::config {

// Sets `root` and returns true, or reports a syntax error, an empty file or
// a second document and returns false. Never throws.
bool parseSingleDocument(const std::string& text, Diagnostics& diag, YAML::Node& root);

}  // namespace sluice::config
