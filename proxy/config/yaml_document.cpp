#include "config/yaml_document.h"

#include <sstream>

#include <yaml-cpp/eventhandler.h>

namespace sluice::config {
namespace {

// Records the position of a document's first node other than an empty one.
class ContentProbe : public YAML::EventHandler {
 public:
  bool hasContent() const { return !first_.is_null(); }
  YAML::Mark first() const { return first_; }
  void reset() { first_ = YAML::Mark::null_mark(); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { see(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    see(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    see(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    see(mark);
  }
  void OnMapEnd() override {}

 private:
  void see(const YAML::Mark& mark) {
    if (first_.is_null()) first_ = mark;
  }

  YAML::Mark first_ = YAML::Mark::null_mark();
};

// Reports the first node of a second document, or a syntax error in it.
bool checkNoSecondDocument(const std::string& text, Diagnostics& diag) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  ContentProbe probe;
  if (!parser.HandleNextDocument(probe)) return true;  // the first document
  probe.reset();
  if (!parser.HandleNextDocument(probe) || !probe.hasContent()) return true;
  diag.error(probe.first(), "", "only one YAML document is allowed");
  return false;
}

}  // namespace

bool parseSingleDocument(const std::string& text, Diagnostics& diag, YAML::Node& root) {
  try {
    root = YAML::Load(text);
    if (root.IsNull()) {
      YAML::Mark start;  // line 0, column 0: shown as 1:1
      diag.error(start, "", "config is empty");
      return false;
    }
    return checkNoSecondDocument(text, diag);
  } catch (const YAML::Exception& e) {
    diag.error(e.mark, "", e.msg);
    return false;
  }
}

}  // namespace sluice::config
