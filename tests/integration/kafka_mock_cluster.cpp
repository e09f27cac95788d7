// kafka_mock_cluster: librdkafka's mock Kafka cluster (rdkafka_mock.h) in a process of its own,
// for the integration tests (test_kafka.py). The brokers speak the real Kafka protocol on
// 127.0.0.1 with ports chosen by librdkafka.
//
//   kafka_mock_cluster [--brokers N]     (default 3)
//
// Prints the bootstrap servers as the first line of stdout, then reads commands from stdin, one
// per line, and answers each with one line, "ok" or "error <why>":
//
//   down <broker id>                      close its connections and refuse new ones
//   up <broker id>
//   create <topic> <partitions> <replication factor>   (librdkafka picks leaders at random)
//   leader <topic> <partition> <broker id>      move the partition's leadership
//   topic_error <topic> <error code>      error for the topic in metadata (0 clears)
//   produce_errors <error code> <count>   the next <count> Produce requests fail with it
//   rtt <broker id> <milliseconds>        added round-trip time
//   quit
//
// Broker ids are 1..N. Exits 0 on "quit" or end of input, 2 on bad arguments.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

namespace {

constexpr int16_t kProduceApiKey = 0;

void answer(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void answer(rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    answer("ok");
  else
    answer(std::string("error ") + rd_kafka_err2str(err));
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
      brokers = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: kafka_mock_cluster [--brokers N]\n");
      return 2;
    }
  }
  if (brokers < 1 || brokers > 16) {
    std::fprintf(stderr, "kafka_mock_cluster: --brokers must be 1-16\n");
    return 2;
  }

  // The mock cluster needs a client handle for its logging; it has no brokers of its own.
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    std::fprintf(stderr, "kafka_mock_cluster: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    std::fprintf(stderr, "kafka_mock_cluster: cannot create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  answer(rd_kafka_mock_cluster_bootstraps(mc));

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd.empty()) continue;
    if (cmd == "quit") {
      answer("ok");
      break;
    }
    if (cmd == "down" || cmd == "up") {
      int32_t id = 0;
      if (!(in >> id)) {
        answer("error usage: " + cmd + " <broker id>");
        continue;
      }
      answer(cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id)
                           : rd_kafka_mock_broker_set_up(mc, id));
    } else if (cmd == "create") {
      std::string topic;
      int partitions = 0, rf = 0;
      if (!(in >> topic >> partitions >> rf)) {
        answer("error usage: create <topic> <partitions> <replication factor>");
        continue;
      }
      answer(rd_kafka_mock_topic_create(mc, topic.c_str(), partitions, rf));
    } else if (cmd == "leader") {
      std::string topic;
      int32_t partition = 0, id = 0;
      if (!(in >> topic >> partition >> id)) {
        answer("error usage: leader <topic> <partition> <broker id>");
        continue;
      }
      answer(rd_kafka_mock_partition_set_leader(mc, topic.c_str(), partition, id));
    } else if (cmd == "topic_error") {
      std::string topic;
      int code = 0;
      if (!(in >> topic >> code)) {
        answer("error usage: topic_error <topic> <error code>");
        continue;
      }
      rd_kafka_mock_topic_set_error(mc, topic.c_str(), static_cast<rd_kafka_resp_err_t>(code));
      answer("ok");
    } else if (cmd == "produce_errors") {
      int code = 0;
      size_t count = 0;
      if (!(in >> code >> count)) {
        answer("error usage: produce_errors <error code> <count>");
        continue;
      }
      for (size_t i = 0; i < count; ++i) {
        rd_kafka_resp_err_t err = static_cast<rd_kafka_resp_err_t>(code);
        rd_kafka_mock_push_request_errors_array(mc, kProduceApiKey, 1, &err);
      }
      answer("ok");
    } else if (cmd == "rtt") {
      int32_t id = 0;
      int ms = 0;
      if (!(in >> id >> ms)) {
        answer("error usage: rtt <broker id> <milliseconds>");
        continue;
      }
      answer(rd_kafka_mock_broker_set_rtt(mc, id, ms));
    } else {
      answer("error unknown command " + cmd);
    }
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
