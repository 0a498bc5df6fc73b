// The CRLs' expiry, checked hourly: see crl_watch.hpp.
#include "supervisor/crl_watch.hpp"

#include "backends/pki.hpp"
#include "io/log.hpp"
#include "supervisor/clock.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

void CrlWatch::arm(std::chrono::seconds after) {
  tick_.start(after, std::chrono::hours(1), [this] { check(); });
}

void CrlWatch::check() {
  model::PkiSnapshot now;
  if (!config_.openvpn.empty()) {
    now.checked = true;
    backends::Pki pki(config_.paths.pki_dir);
    try {
      if (pki.refreshCrlIfDue()) {
        log(Level::kNotice, "pki: CRLs refreshed in " + config_.paths.pki_dir.string() +
                                " (valid 30 days; the other servers need the copies)");
        hooks_.record("pki", "CRLs refreshed");
      }
      now.crl_next_update = pki.crlNextUpdate();
      now.advice = backends::crlAdvice(now.crl_next_update, wallClockMs() / 1000, pki.holdsCaKey());
    } catch (const backends::PkiError& e) {
      now.advice = std::string("cannot check the CRLs: ") + e.what();
    }
    // Hourly while something is wrong: an expired CRL locks every user out.
    if (!now.advice.empty()) log(Level::kWarning, "pki: " + now.advice);
    if (now.advice.empty() && !state_.advice.empty()) {
      log(Level::kNotice, "pki: the CRLs are current");
    }
  }
  bool differs = now.checked != state_.checked || now.crl_next_update != state_.crl_next_update ||
                 now.advice != state_.advice;
  state_ = std::move(now);
  if (differs) hooks_.changed();
}

}  // namespace meshbroker::supervisor
