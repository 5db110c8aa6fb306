/*
 * psi-kafka-mock: librdkafka's mock Kafka cluster as a process, for tests and demos.
 *
 * Built on first use by @psi/adapters/testing (startKafkaMockCluster) against the librdkafka that
 * the npm package node-rdkafka compiles from its bundled source at install, so nothing but npm
 * and the C compiler that native npm modules need is required.
 *
 * Prints the bootstrap servers on one stdout line, then serves until SIGTERM/SIGINT, or until its
 * stdin reaches end-of-file when given --exit-with-stdin (a parent that dies, even by SIGKILL,
 * takes its broker with it).
 *
 * Usage: psi-kafka-mock [broker-count] [--exit-with-stdin]
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t running = 1;
static void on_signal(int sig) { (void)sig; running = 0; }

/* Kafka API key of LeaveGroup (KIP-345 changed its request from v3 on). */
#define API_KEY_LEAVE_GROUP 13

int main(int argc, char **argv) {
  char errstr[512];
  int brokers = 1, exit_with_stdin = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--exit-with-stdin") == 0) exit_with_stdin = 1;
    else brokers = atoi(argv[i]);
  }
  if (brokers < 1 || brokers > 16) {
    fprintf(stderr, "psi-kafka-mock: broker count must be 1 to 16\n");
    return 2;
  }
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)); /* errors only */
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) { fprintf(stderr, "psi-kafka-mock: rd_kafka_new failed: %s\n", errstr); return 1; }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mcluster) { fprintf(stderr, "psi-kafka-mock: rd_kafka_mock_cluster_new failed\n"); return 1; }
  /* The mock advertises LeaveGroup up to v4 but parses only the v0-v2 request (one member id):
   * a v3+ client such as kafkajs would not leave its group (UNKNOWN_MEMBER_ID) and would fail to
   * parse the answer. Offering v0-v1 makes leaving, and the rebalance it starts, work. */
  rd_kafka_mock_set_apiversion(mcluster, API_KEY_LEAVE_GROUP, 0, 1);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);
  while (running) {
    if (!exit_with_stdin) { usleep(50 * 1000); continue; }
    struct pollfd in = { .fd = 0, .events = POLLIN };
    if (poll(&in, 1, 50) > 0) {
      char buf[256];
      if (read(0, buf, sizeof(buf)) <= 0) running = 0; /* end of file: the parent is gone */
    }
  }
  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
