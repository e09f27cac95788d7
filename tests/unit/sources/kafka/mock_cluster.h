// An in-process librdkafka mock cluster (rdkafka_mock.h) for the Kafka source's tests: real
// Kafka protocol on 127.0.0.1, topics created here, messages produced with a plain producer, and
// the committed offsets of a group read back with a separate client.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace trailwarden::testing {

class KafkaMockCluster {
 public:
  explicit KafkaMockCluster(int brokers = 1) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof errstr);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk_) throw std::runtime_error(errstr);
    mc_ = rd_kafka_mock_cluster_new(rk_, brokers);
    if (!mc_) throw std::runtime_error("cannot create the mock cluster");
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(mc_);
  }
  ~KafkaMockCluster() {
    if (producer_) {
      rd_kafka_flush(producer_, 5000);
      rd_kafka_destroy(producer_);
    }
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(rk_);
  }
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }
  rd_kafka_mock_cluster_t* handle() { return mc_; }

  void create_topic(const std::string& topic, int partitions) {
    if (rd_kafka_mock_topic_create(mc_, topic.c_str(), partitions, 1))
      throw std::runtime_error("cannot create topic " + topic);
  }

  // Produces `value` to `partition` and waits for its acknowledgement.
  void produce(const std::string& topic, int32_t partition, const std::string& value) {
    if (!producer_) {
      char errstr[512];
      rd_kafka_conf_t* conf = rd_kafka_conf_new();
      rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), errstr, sizeof errstr);
      rd_kafka_conf_set(conf, "linger.ms", "0", errstr, sizeof errstr);
      rd_kafka_conf_set(conf, "message.max.bytes", "10000000", errstr, sizeof errstr);
      producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
      if (!producer_) throw std::runtime_error(errstr);
    }
    if (rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic.c_str()),
                          RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_END))
      throw std::runtime_error("produce failed");
  }
  void flush() {
    if (producer_ && rd_kafka_flush(producer_, 10000))
      throw std::runtime_error("produce not acknowledged");
  }

  // The offsets `group` committed for partitions 0..partitions-1 of `topic` (-1001 when none).
  std::vector<int64_t> committed(const std::string& group, const std::string& topic,
                                 int partitions) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", group.c_str(), errstr, sizeof errstr);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c) throw std::runtime_error(errstr);
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(l, topic.c_str(), p);
    const rd_kafka_resp_err_t err = rd_kafka_committed(c, l, 10000);
    std::vector<int64_t> out;
    for (int p = 0; p < partitions; ++p) out.push_back(l->elems[p].offset);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
    if (err) throw std::runtime_error(std::string("committed: ") + rd_kafka_err2str(err));
    return out;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::string bootstraps_;
};

}  // namespace trailwarden::testing
