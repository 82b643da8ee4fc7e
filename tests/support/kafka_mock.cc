#include "tests/support/kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // after rdkafka.h
#include <librdkafka/rdkafkacpp.h>

#include <memory>
#include <set>

#include "gtest/gtest.h"

namespace gridcase::testing {
namespace {

std::unique_ptr<RdKafka::Conf> Conf(const std::string& bootstraps,
                                    std::vector<std::pair<std::string, std::string>> extra) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  extra.insert(extra.begin(), {"bootstrap.servers", bootstraps});
  for (const auto& p : MockClientProperties()) extra.push_back(p);
  extra.emplace_back("log_level", "0");
  for (const auto& [k, v] : extra) {
    EXPECT_EQ(conf->set(k, v, error), RdKafka::Conf::CONF_OK) << k << ": " << error;
  }
  return conf;
}

}  // namespace

MockKafka::MockKafka(int brokers) : brokers_(brokers) {
  char error[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "0", error, sizeof(error));
  // The cluster needs a handle to belong to; this one is used for nothing
  // else.
  owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  EXPECT_NE(owner_, nullptr) << error;
  cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
  EXPECT_NE(cluster_, nullptr);
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

MockKafka::~MockKafka() {
  if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
  if (owner_) rd_kafka_destroy(owner_);
}

void MockKafka::CreateTopic(const std::string& topic, int partitions) {
  EXPECT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
}

void MockKafka::SetAllBrokersDown(bool down) {
  for (int id = 1; id <= brokers_; ++id) SetBrokerDown(id, down);
}

void MockKafka::SetBrokerDown(int broker, bool down) {
  EXPECT_EQ(down ? rd_kafka_mock_broker_set_down(cluster_, broker)
                 : rd_kafka_mock_broker_set_up(cluster_, broker),
            RD_KAFKA_RESP_ERR_NO_ERROR);
}

void MockKafka::SetLeader(const std::string& topic, int partition, int broker) {
  EXPECT_EQ(rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker),
            RD_KAFKA_RESP_ERR_NO_ERROR);
}

void MockKafka::SetGroupCoordinator(const std::string& group, int broker) {
  EXPECT_EQ(rd_kafka_mock_coordinator_set(cluster_, "group", group.c_str(), broker),
            RD_KAFKA_RESP_ERR_NO_ERROR);
}

void MockKafka::PushRequestErrors(int broker, int16_t api_key, const std::vector<int>& errors) {
  for (int e : errors) {
    EXPECT_EQ(rd_kafka_mock_broker_push_request_error_rtts(cluster_, broker, api_key, 1,
                                                           static_cast<rd_kafka_resp_err_t>(e), 0),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
}

size_t MockKafka::PendingRequestErrors(int broker, int16_t api_key) {
  size_t n = 0;
  EXPECT_EQ(rd_kafka_mock_broker_error_stack_cnt(cluster_, broker, api_key, &n),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  return n;
}

void MockKafka::SetRtt(int broker, int rtt_ms) {
  if (broker == 0) {
    for (int id = 1; id <= brokers_; ++id) SetRtt(id, rtt_ms);
    return;
  }
  EXPECT_EQ(rd_kafka_mock_broker_set_rtt(cluster_, broker, rtt_ms), RD_KAFKA_RESP_ERR_NO_ERROR);
}

std::vector<std::pair<std::string, std::string>> MockClientProperties() {
  return {{"fetch.wait.max.ms", "10"},
          {"reconnect.backoff.max.ms", "200"},
          {"session.timeout.ms", "6000"},
          {"heartbeat.interval.ms", "2000"}};
}

std::vector<KafkaMessage> ReadTopic(const std::string& bootstraps, const std::string& topic,
                                    int partitions, std::chrono::seconds timeout) {
  auto conf = Conf(bootstraps, {{"group.id", "reader-of-" + topic},
                                {"enable.auto.commit", "false"},
                                {"enable.partition.eof", "true"}});
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  EXPECT_NE(consumer, nullptr) << error;
  if (!consumer) return {};
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int p = 0; p < partitions; ++p) {
    assignment.push_back(RdKafka::TopicPartition::create(topic, p, 0));  // absolute: fast
  }
  consumer->assign(assignment);
  RdKafka::TopicPartition::destroy(assignment);
  std::vector<KafkaMessage> out;
  std::set<int32_t> at_end;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (static_cast<int>(at_end.size()) < partitions &&
         std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      at_end.insert(m->partition());
    } else if (m->err() == RdKafka::ERR_NO_ERROR) {
      KafkaMessage msg;
      msg.partition = m->partition();
      msg.offset = m->offset();
      if (m->key()) msg.key = *m->key();
      msg.value.assign(static_cast<const char*>(m->payload()), m->len());
      if (const RdKafka::Headers* h = m->headers()) {
        for (const auto& header : h->get_all()) {
          msg.headers[header.key()] =
              std::string(static_cast<const char*>(header.value()), header.value_size());
        }
      }
      out.push_back(std::move(msg));
    }
  }
  EXPECT_EQ(static_cast<int>(at_end.size()), partitions) << "did not reach the end of " << topic;
  consumer->close();
  return out;
}

void WriteTopic(const std::string& bootstraps, const std::string& topic,
                const std::vector<std::pair<std::string, std::string>>& messages) {
  auto conf = Conf(bootstraps, {{"enable.idempotence", "true"}, {"acks", "all"}});
  std::string error;
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  ASSERT_NE(producer, nullptr) << error;
  for (const auto& [key, value] : messages) {
    for (;;) {
      const auto err =
          producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                            const_cast<char*>(value.data()), value.size(),
                            key.empty() ? nullptr : key.data(), key.size(), 0, nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) {
        producer->poll(10);
        continue;
      }
      ASSERT_EQ(err, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(err);
      break;
    }
  }
  ASSERT_EQ(producer->flush(30000), RdKafka::ERR_NO_ERROR);
}

}  // namespace gridcase::testing
