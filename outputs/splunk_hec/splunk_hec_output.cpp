#include "outputs/splunk_hec/splunk_hec_output.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <thread>

#include "agent/common/json_writer.h"
#include "agent/http/classify.h"

namespace trailwarden {

namespace {

using Status = DeliveryResult::Status;

// gzip (one member) of `in` into `out`; false if zlib fails (then the body goes uncompressed).
bool gzip_into(std::string_view in, std::string& out) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return false;
  out.resize(deflateBound(&zs, static_cast<uLong>(in.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END;
}

// Splunk's answer in a message: "HTTP 400, code 6 "Invalid data format"" (peer text made
// printable and bounded).
std::string describe(const http::HttpResponse& resp, const HecReply& reply) {
  if (reply.code >= 0)
    return fmt::format("HTTP {}, code {} \"{}\"", resp.status, reply.code,
                       http::printable_excerpt(reply.text, 120));
  if (resp.body.empty()) return fmt::format("HTTP {}", resp.status);
  return fmt::format("HTTP {}: {}", resp.status, http::printable_excerpt(resp.body, 120));
}

void add_message(std::string& messages, const std::string& m) {
  if (m.empty() || messages.find(m) != std::string::npos) return;
  if (!messages.empty()) messages += "; ";
  messages += m;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SplunkHecOutput

SplunkHecOutput::SplunkHecOutput(std::string name, SplunkHecOptions options,
                                 std::shared_ptr<http::HttpClient> http, HecClock clock)
    : name_(std::move(name)),
      options_(std::move(options)),
      http_(std::move(http)),
      clock_(std::move(clock)),
      max_request_bytes_(std::max<size_t>(options_.batch_max_bytes, 1)) {}

std::chrono::steady_clock::time_point SplunkHecOutput::now() const {
  return clock_.now ? clock_.now() : std::chrono::steady_clock::now();
}

void SplunkHecOutput::sleep(std::chrono::milliseconds d) const {
  if (d.count() <= 0) return;
  if (clock_.sleep)
    clock_.sleep(d);
  else
    std::this_thread::sleep_for(d);
}

std::string SplunkHecOutput::endpoint(const std::string& path) const {
  return options_.scheme + "://" + options_.host + path;
}

SplunkHecOutput::PostOutcome SplunkHecOutput::post(size_t begin, size_t end, uint64_t& ack_id,
                                                   bool& has_ack_id, int64_t& bad_event,
                                                   std::string& message) {
  has_ack_id = false;
  bad_event = -1;
  const std::string_view payload(events_.data() + offsets_[begin], offsets_[end] - offsets_[begin]);
  // The request is a member so that its body buffer is reused from request to request.
  http::HttpRequest& req = request_;
  req.method = "POST";
  req.scheme = options_.scheme;
  req.host = options_.host;
  req.path = options_.event_path;
  req.headers.clear();
  req.headers.emplace_back("Authorization", "Splunk " + options_.token);
  req.headers.emplace_back("Content-Type", "application/json");
  if (options_.ack) req.headers.emplace_back("X-Splunk-Request-Channel", options_.channel);
  if (options_.gzip && gzip_into(payload, req.body)) {
    req.headers.emplace_back("Content-Encoding", "gzip");
  } else {
    req.body.assign(payload);
  }
  req.cancel = &cancelled_;
  const http::HttpResponse resp = http_->perform(req, options_.timeout);
  const std::string url = endpoint(options_.event_path);
  if (!resp.error.empty()) {
    message = fmt::format("cannot send to {}: {}", url, resp.error);
    http::scrub_secret(message, options_.token);
    return PostOutcome::kRetry;
  }
  const HecReply reply = parse_hec_reply(resp.body);
  std::string what = describe(resp, reply);
  http::scrub_secret(what, options_.token);
  const int status = resp.status;
  const size_t events = end - begin;
  spdlog::debug("output {}: POST {}: {} events, {} bytes: {}", name_, url, events, req.body.size(),
                what);
  if (status >= 200 && status < 300) {
    if (reply.ack_id >= 0) {
      ack_id = static_cast<uint64_t>(reply.ack_id);
      has_ack_id = true;
    }
    return PostOutcome::kAccepted;
  }
  if (status == 401 || status == 403) {
    message = fmt::format(
        "Splunk HEC at {} refused the token ({}): check token / token_env / token_file and that "
        "the token is enabled",
        url, what);
    return PostOutcome::kFatal;
  }
  if (status == 404) {
    message = fmt::format(
        "{} answered {}: is the URL a HEC endpoint (https://host:8088), with "
        "HTTP Event Collector enabled?",
        url, what);
    return PostOutcome::kFatal;
  }
  if (status >= 300 && status < 400) {
    message = fmt::format(
        "{} answered {} (a redirect, not followed): set url to the HEC "
        "endpoint itself",
        url, what);
    return PostOutcome::kFatal;
  }
  if (status == 400) {
    switch (reply.code) {
      case 7:
        message = fmt::format(
            "Splunk HEC refused the index{} ({}): it does not exist or the token may not write "
            "to it",
            options_.index.empty() ? "" : " '" + options_.index + "'", what);
        return PostOutcome::kFatal;
      case 10:
        message = fmt::format(
            "Splunk HEC wants a data channel ({}): indexer acknowledgement is "
            "on for this token: set ack = true",
            what);
        return PostOutcome::kFatal;
      case 11:
      case 14:
      case 16:
        message = fmt::format(
            "Splunk HEC refused the request ({}): check ack and channel against "
            "the token's settings",
            what);
        return PostOutcome::kFatal;
      default:
        break;
    }
    if (reply.invalid_event >= 0 && static_cast<size_t>(reply.invalid_event) < events) {
      bad_event = reply.invalid_event;
      const size_t after = events - static_cast<size_t>(reply.invalid_event) - 1;
      message = fmt::format(
          "Splunk HEC refused an event ({}){}", what,
          after ? fmt::format("; the {} events after it were not indexed", after) : std::string());
      return PostOutcome::kPartial;
    }
    message = fmt::format("Splunk HEC refused {} events ({})", events, what);
    return PostOutcome::kReject;
  }
  if (status == 413) {
    message = fmt::format("Splunk HEC refused a request of {} bytes as too large ({})",
                          req.body.size(), what);
    return PostOutcome::kTooLarge;
  }
  if (http::classify_status(status).retryable) {  // 408, 429, 5xx, no final answer
    message = fmt::format("Splunk HEC at {} is not accepting data ({})", url, what);
    return PostOutcome::kRetry;
  }
  message = fmt::format("Splunk HEC refused {} events ({})", events, what);
  return PostOutcome::kReject;
}

bool SplunkHecOutput::wait_for_acks(std::vector<ItemState>& state, std::string& message,
                                    bool& fatal) {
  fatal = false;
  std::vector<bool> done(posted_.size(), false);
  size_t remaining = posted_.size();
  std::string problem;
  const auto deadline = now() + options_.ack_timeout;
  const std::string url = endpoint(options_.ack_path);
  while (remaining > 0 && !cancelled_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now());
    sleep(std::min(options_.ack_poll, left));
    http::HttpRequest req;
    req.method = "POST";
    req.scheme = options_.scheme;
    req.host = options_.host;
    req.path = options_.ack_path;
    req.headers.emplace_back("Authorization", "Splunk " + options_.token);
    req.headers.emplace_back("Content-Type", "application/json");
    req.headers.emplace_back("X-Splunk-Request-Channel", options_.channel);
    JsonWriter w(req.body);
    w.begin_object().key("acks").begin_array();
    for (size_t i = 0; i < posted_.size(); ++i)
      if (!done[i]) w.value(static_cast<uint64_t>(posted_[i].ack_id));
    w.end_array().end_object();
    req.cancel = &cancelled_;
    const http::HttpResponse resp = http_->perform(req, options_.timeout);
    if (!resp.error.empty()) {
      problem = fmt::format("last ack poll: cannot reach {}: {}", url, resp.error);
    } else if (resp.status == 200) {
      simdjson::dom::parser p;
      simdjson::dom::object acks;
      simdjson::dom::element root;
      if (p.parse(resp.body).get(root) == simdjson::SUCCESS &&
          root["acks"].get_object().get(acks) == simdjson::SUCCESS) {
        for (auto field : acks) {
          bool acked = false;
          uint64_t id = 0;
          const std::string_view key = field.key;
          auto res = std::from_chars(key.data(), key.data() + key.size(), id);
          if (res.ec != std::errc() || field.value.get_bool().get(acked) != simdjson::SUCCESS ||
              !acked)
            continue;
          for (size_t i = 0; i < posted_.size(); ++i) {
            if (done[i] || posted_[i].ack_id != id) continue;
            done[i] = true;
            --remaining;
            for (size_t k = posted_[i].begin; k < posted_[i].end; ++k)
              state[k] = ItemState::kDelivered;
          }
        }
      } else {
        problem = fmt::format("last ack poll: {} answered HTTP 200 without an acks object: {}", url,
                              http::printable_excerpt(resp.body, 120));
      }
    } else {
      const HecReply reply = parse_hec_reply(resp.body);
      std::string what = describe(resp, reply);
      http::scrub_secret(what, options_.token);
      if (resp.status == 401 || resp.status == 403) {
        message = fmt::format(
            "Splunk HEC at {} refused the token ({}): check token / token_env / "
            "token_file and that the token is enabled",
            url, what);
        fatal = true;
        return false;
      }
      if (resp.status == 404 ||
          (resp.status == 400 && (reply.code == 10 || reply.code == 11 || reply.code == 14))) {
        message = fmt::format(
            "indexer acknowledgement failed at {} ({}): set ack = false, or "
            "enable indexer acknowledgement on the token",
            url, what);
        fatal = true;
        return false;
      }
      problem = fmt::format("last ack poll: {}", what);
    }
    if (now() >= deadline || cancelled_) break;
  }
  if (remaining == 0) return true;
  size_t events = 0;
  for (size_t i = 0; i < posted_.size(); ++i)
    if (!done[i]) events += posted_[i].end - posted_[i].begin;
  message = fmt::format("no indexer acknowledgement for {} of {} requests ({} events) within {} ms",
                        remaining, posted_.size(), events, options_.ack_timeout.count());
  if (!problem.empty()) message += " (" + problem + ")";
  http::scrub_secret(message, options_.token);
  return false;
}

DeliveryResult SplunkHecOutput::send(const std::vector<const AlertRecord*>& batch) {
  DeliveryResult result;
  const size_t n = batch.size();
  if (n == 0) return result;
  events_.clear();
  offsets_.clear();
  for (const AlertRecord* a : batch) {
    offsets_.push_back(events_.size());
    append_hec_event(*a, options_, events_);
  }
  offsets_.push_back(events_.size());
  std::vector<ItemState> state(n, ItemState::kPending);
  posted_.clear();
  std::string messages;

  bool stop = false;
  for (size_t begin = 0; begin < n && !stop;) {
    size_t end = begin + 1;
    while (end < n && offsets_[end + 1] - offsets_[begin] <= max_request_bytes_) ++end;
    uint64_t ack_id = 0;
    bool has_ack_id = false;
    int64_t bad = -1;
    std::string message;
    switch (post(begin, end, ack_id, has_ack_id, bad, message)) {
      case PostOutcome::kAccepted:
        if (options_.ack && has_ack_id) {
          posted_.push_back({begin, end, ack_id});
          std::fill(state.begin() + static_cast<ptrdiff_t>(begin),
                    state.begin() + static_cast<ptrdiff_t>(end), ItemState::kAwaitingAck);
        } else {
          if (options_.ack && !warned_no_ack_id_) {
            warned_no_ack_id_ = true;
            spdlog::warn(
                "output {}: ack = true but Splunk HEC returns no ackId: indexer "
                "acknowledgement is off for this token, so accepted events count as "
                "delivered",
                name_);
          }
          std::fill(state.begin() + static_cast<ptrdiff_t>(begin),
                    state.begin() + static_cast<ptrdiff_t>(end), ItemState::kDelivered);
        }
        break;
      case PostOutcome::kRetry:
        add_message(messages, message);
        stop = true;
        break;
      case PostOutcome::kReject:
        add_message(messages, message);
        std::fill(state.begin() + static_cast<ptrdiff_t>(begin),
                  state.begin() + static_cast<ptrdiff_t>(end), ItemState::kRejected);
        break;
      case PostOutcome::kPartial: {
        add_message(messages, message);
        const size_t bad_index = begin + static_cast<size_t>(bad);
        // Without ack, Splunk's word that the events before the bad one are indexed is all
        // there is (as for a 200). With ack there is no ackId to confirm them: retry them.
        if (!options_.ack)
          std::fill(state.begin() + static_cast<ptrdiff_t>(begin),
                    state.begin() + static_cast<ptrdiff_t>(bad_index), ItemState::kDelivered);
        state[bad_index] = ItemState::kRejected;
        stop = true;
        break;
      }
      case PostOutcome::kTooLarge:
        if (end - begin > 1) {
          max_request_bytes_ = std::max<size_t>(1, (offsets_[end] - offsets_[begin]) / 2);
          spdlog::warn(
              "output {}: {}; sending at most {} bytes per request from now on (lower "
              "batch_max_bytes, or raise max_content_length in Splunk's limits.conf)",
              name_, message, max_request_bytes_);
          add_message(messages, message);
          stop = true;
        } else {
          add_message(messages, message + " (a single event)");
          state[begin] = ItemState::kRejected;
        }
        break;
      case PostOutcome::kFatal:
        result.status = Status::kFatal;
        result.message = std::move(message);
        return result;
    }
    begin = end;
  }

  if (!posted_.empty()) {
    std::string message;
    bool fatal = false;
    if (!wait_for_acks(state, message, fatal)) {
      if (fatal) {
        result.status = Status::kFatal;
        result.message = std::move(message);
        return result;
      }
      add_message(messages, message);
    }
  }

  return delivery_result_from(state, std::move(messages));
}

}  // namespace trailwarden
