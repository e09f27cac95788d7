#include "outputs/syslog/syslog_output.h"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace trailwarden {

namespace {

// Stream writes are made in pieces of about this size (a batch can be large).
constexpr size_t kWriteChunk = size_t{256} << 10;

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SyslogOutput::SyslogOutput(std::string name, SyslogOptions options,
                           std::unique_ptr<SyslogTransport> transport,
                           std::function<int64_t()> now_ms)
    : name_(std::move(name)),
      options_(std::move(options)),
      transport_(std::move(transport)),
      now_ms_(now_ms ? std::move(now_ms) : std::function<int64_t()>(system_now_ms)),
      formatter_(options_.message) {
  transport_->set_cancel(&cancelled_);
  if (transport_->datagram() || options_.relp)
    options_.framing = SyslogFraming::kNone;
  else if (options_.framing == SyslogFraming::kNone)
    options_.framing = SyslogFraming::kOctetCounting;
}

SyslogOutput::~SyslogOutput() {
  if (options_.relp) relp_close();
}

void SyslogOutput::reopen() {
  if (options_.relp)
    relp_close();
  else
    transport_->close();
}

void SyslogOutput::relp_close() {
  // Only once a session was opened and with nothing left unread (on a connection closed since,
  // the write fails, harmlessly); the receiver's answer is not waited for (rsyslog logs a
  // session closed this way as a normal end, not as a broken one).
  if (relp_txnr_ != 0 && relp_reader_.empty()) {
    std::string frame, ignored;
    relp::append_frame(relp::next_txnr(relp_txnr_), "close", "", frame);
    transport_->write(frame, ignored);
  }
  relp_txnr_ = 0;
  relp_reader_.clear();
  transport_->close();
}

DeliveryResult SyslogOutput::retry(std::string message) {
  if (!failing_) spdlog::debug("output {}: {}", name_, message);
  failing_ = true;
  DeliveryResult r;
  r.status = DeliveryResult::Status::kRetry;
  r.message = std::move(message);
  return r;
}

bool SyslogOutput::format(const AlertRecord& alert, size_t i, int64_t now) {
  switch (formatter_.format(alert, now, message_)) {
    case SyslogFormatter::Outcome::kFull:
      return true;
    case SyslogFormatter::Outcome::kSummary:
      if (!warned_summary_) {
        warned_summary_ = true;
        spdlog::warn(
            "output {}: alerts over max_message_bytes ({}) are sent as summaries "
            "(first: finding {}); see docs/outputs.md",
            name_, options_.message.max_message_bytes, alert.uid);
      } else {
        spdlog::debug("output {}: finding {} sent as a summary", name_, alert.uid);
      }
      ++summarized_in_batch_;
      return true;
    case SyslogFormatter::Outcome::kTooLarge:
      too_large_.push_back(i);
      return false;
  }
  return false;
}

DeliveryResult SyslogOutput::finish() {
  counters_.summarized += summarized_in_batch_;
  if (failing_) spdlog::info("output {}: delivering to {} again", name_, transport_->peer());
  failing_ = false;
  DeliveryResult r;
  if (too_large_.empty()) return r;
  counters_.too_large += too_large_.size();
  r.status = DeliveryResult::Status::kReject;
  r.message = fmt::format("{} alert(s) over max_message_bytes ({}) even as a summary",
                          too_large_.size(), options_.message.max_message_bytes);
  r.items = too_large_;
  return r;
}

DeliveryResult SyslogOutput::send(const std::vector<const AlertRecord*>& batch) {
  too_large_.clear();
  summarized_in_batch_ = 0;
  std::string error;
  if (options_.relp && !relp_reader_.empty()) {
    // Bytes left over from the last batch (an answer sent twice): the session is out of step.
    // A new one, rather than mistaking them for answers to this batch.
    spdlog::info("output {}: {} sent more than the answers expected; opening a new RELP session",
                 name_, transport_->peer());
    transport_->close();
  }
  const SyslogTransport::Connection connection = transport_->ensure_connected(error);
  if (std::string why; transport_->take_reset(why)) {
    ++counters_.resets;
    if (options_.relp)  // whatever the receiver threw away was never answered: sent again
      spdlog::info("output {}: {} reset the connection ({}); unanswered messages are sent again",
                   name_, transport_->peer(), why);
    else  // alerts its kernel had acknowledged, counted delivered, may be among what it threw
      spdlog::warn(  // away; nothing says which (see docs/outputs.md)
          "output {}: {} reset the connection ({}): alerts written to it shortly before may have "
          "been lost unread (syslog over TCP has no acknowledgement; see docs/outputs.md)",
          name_, transport_->peer(), why);
  }
  switch (connection) {
    case SyslogTransport::Connection::kReady:
      break;
    case SyslogTransport::Connection::kConnected:
      ++counters_.connects;
      if (connected_before_)
        spdlog::info("output {}: reconnected to {}", name_, transport_->peer());
      else
        spdlog::info("output {}: connected to {}", name_, transport_->peer());
      connected_before_ = true;
      break;
    case SyslogTransport::Connection::kLost:
      ++counters_.connects;
      spdlog::info("output {}: the connection to {} was closed by the receiver; reconnected", name_,
                   transport_->peer());
      break;
    case SyslogTransport::Connection::kFailed:
      ++counters_.connect_failures;
      return retry(std::move(error));
  }
  const int64_t now = now_ms_();
  if (options_.relp)
    return send_relp(batch, now, connection != SyslogTransport::Connection::kReady);
  return transport_->datagram() ? send_datagrams(batch, now) : send_stream(batch, now);
}

DeliveryResult SyslogOutput::send_datagrams(const std::vector<const AlertRecord*>& batch,
                                            int64_t now) {
  std::string error;
  uint64_t sent = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!format(*batch[i], i, now)) continue;
    if (!transport_->write(message_, error)) {
      counters_.sent += sent;
      ++counters_.write_failures;
      // This alert and the rest are sent again; so are the ones found too large, which are
      // rejected on the attempt that delivers everything else.
      DeliveryResult r = retry(std::move(error));
      r.items = too_large_;
      for (size_t k = i; k < batch.size(); ++k) r.items.push_back(k);
      return r;
    }
    ++sent;
  }
  counters_.sent += sent;
  return finish();
}

DeliveryResult SyslogOutput::send_stream(const std::vector<const AlertRecord*>& batch,
                                         int64_t now) {
  std::string error;
  uint64_t framed = 0;
  buffer_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!format(*batch[i], i, now)) continue;
    append_syslog_frame(options_.framing, message_, buffer_);
    ++framed;
    if (buffer_.size() >= kWriteChunk || i + 1 == batch.size()) {
      if (!transport_->write(buffer_, error)) {
        ++counters_.write_failures;
        return retry(std::move(error));  // the whole batch: TCP cannot tell what arrived
      }
      buffer_.clear();
    }
  }
  if (!buffer_.empty() && !transport_->write(buffer_, error)) {
    ++counters_.write_failures;
    return retry(std::move(error));
  }
  // Written is not delivered: until the receiver's TCP has acknowledged them, the bytes are in
  // this host's send queue and die with the connection (a receiver that hangs, a host or a
  // network that goes away), while the batch would be counted delivered.
  if (framed > 0 && !transport_->wait_acknowledged(error)) {
    ++counters_.write_failures;
    return retry(std::move(error));
  }
  counters_.sent += framed;
  return finish();
}

bool SyslogOutput::relp_read(relp::Frame& frame, std::chrono::steady_clock::time_point deadline,
                             std::string& error) {
  for (;;) {
    switch (relp_reader_.next(frame, error)) {
      case relp::FrameReader::Result::kFrame:
        if (frame.command == "serverclose") {
          error = fmt::format("{} ended the RELP session (serverclose)", transport_->peer());
          transport_->close();
          return false;
        }
        return true;
      case relp::FrameReader::Result::kError:
        error = fmt::format("{}: {}", transport_->peer(), error);
        transport_->close();
        return false;
      case relp::FrameReader::Result::kNeedMore:
        break;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    buffer_.clear();
    if (left.count() <= 0 || !transport_->read(buffer_, left, error)) {
      if (std::chrono::steady_clock::now() >= deadline)  // not an error of the connection's
        error = fmt::format("no answer from {} within write_timeout_ms ({} ms)",
                            transport_->peer(), options_.transport.write_timeout.count());
      transport_->close();
      return false;
    }
    relp_reader_.feed(buffer_);
  }
}

bool SyslogOutput::relp_open(std::string& error) {
  relp_reader_.clear();
  relp_txnr_ = 1;
  buffer_.clear();
  relp::append_frame(relp_txnr_, "open", relp::open_offers(TRAILWARDEN_VERSION), buffer_);
  if (!transport_->write(buffer_, error)) return false;
  relp::Frame frame;
  if (!relp_read(frame, std::chrono::steady_clock::now() + options_.transport.write_timeout, error))
    return false;
  relp::Response rsp;
  const bool answer = frame.command == "rsp" && frame.txnr == relp_txnr_;
  if (!answer || !relp::parse_response(frame.data, rsp)) {
    error = fmt::format("{} answered the RELP open with \"{} {}\": is it a RELP receiver?",
                        transport_->peer(), frame.txnr, frame.command);
    transport_->close();
    return false;
  }
  if (rsp.code != 200) {
    error = fmt::format("{} refused the RELP session: {} {}", transport_->peer(), rsp.code,
                        rsp.text);
    transport_->close();
    return false;
  }
  const size_t offers = frame.data.find('\n');
  if (offers == std::string::npos || !relp::offers_syslog(std::string_view(frame.data).substr(offers + 1))) {
    error = fmt::format("{} does not offer the RELP syslog command", transport_->peer());
    transport_->close();
    return false;
  }
  return true;
}

DeliveryResult SyslogOutput::send_relp(const std::vector<const AlertRecord*>& batch, int64_t now,
                                       bool new_connection) {
  // Messages are sent in windows: a window is written, then its answers are read (they are a
  // few bytes each, so the receiver never blocks writing them while we write).
  constexpr size_t kWindow = 128;
  std::string error;
  if (new_connection && !relp_open(error)) {
    ++counters_.write_failures;
    return retry(std::move(error));
  }
  std::vector<size_t> again;  // answered with an error: sent again by the pipeline
  std::vector<std::pair<uint32_t, size_t>> pending;  // (txnr, index in batch), in order
  uint64_t acked = 0;
  // kRetry for everything not answered 200 (answered with an error, unanswered, not yet sent),
  // and for the alerts found too large, rejected on the attempt that delivers the rest.
  auto give_back = [&](std::string message, size_t next_unsent) {
    counters_.sent += acked;
    DeliveryResult r = retry(std::move(message));
    r.items = too_large_;
    r.items.insert(r.items.end(), again.begin(), again.end());
    for (const auto& p : pending) r.items.push_back(p.second);
    for (size_t k = next_unsent; k < batch.size(); ++k) r.items.push_back(k);
    std::sort(r.items.begin(), r.items.end());
    return r;
  };
  // The connection failed (and is closed).
  auto broken = [&](size_t next_unsent) {
    ++counters_.write_failures;
    return give_back(std::move(error), next_unsent);
  };
  std::string answer_text;  // the first error answer, for the message
  size_t i = 0;
  while (i < batch.size()) {
    buffer_.clear();
    pending.clear();
    for (; i < batch.size() && pending.size() < kWindow; ++i) {
      if (!format(*batch[i], i, now)) continue;
      relp_txnr_ = relp::next_txnr(relp_txnr_);
      relp::append_frame(relp_txnr_, "syslog", message_, buffer_);
      pending.emplace_back(relp_txnr_, i);
    }
    if (pending.empty()) continue;
    if (!transport_->write(buffer_, error)) return broken(i);
    // The answers to a window must all come within write_timeout_ms.
    const auto deadline = std::chrono::steady_clock::now() + options_.transport.write_timeout;
    while (!pending.empty()) {
      relp::Frame frame;
      if (!relp_read(frame, deadline, error)) return broken(i);
      auto it = std::find_if(pending.begin(), pending.end(),
                             [&](const auto& p) { return p.first == frame.txnr; });
      relp::Response rsp;
      if (frame.command != "rsp" || it == pending.end() || !relp::parse_response(frame.data, rsp)) {
        error = fmt::format("{} sent an unexpected RELP frame \"{} {}\"", transport_->peer(),
                            frame.txnr, frame.command);
        transport_->close();
        return broken(i);
      }
      if (rsp.code == 200) {
        ++acked;
      } else {
        again.push_back(it->second);
        ++counters_.refused;
        if (answer_text.empty()) answer_text = fmt::format("{} {}", rsp.code, rsp.text);
      }
      pending.erase(it);
    }
  }
  if (!again.empty())
    return give_back(fmt::format("{} answered {} of {} messages with an error: {}",
                                 transport_->peer(), again.size(), batch.size(), answer_text),
                     batch.size());
  counters_.sent += acked;
  return finish();
}

}  // namespace trailwarden
