/*
 * A Kafka-protocol mock cluster for PSI's tests (librdkafka's built-in mock, from librdkafka-dev).
 * Prints the bootstrap servers on one stdout line, then serves until SIGTERM or SIGINT.
 * Optional argument: broker count (default 1). Topics auto-create on first use.
 * Build: cc -O2 -o mock-broker mock-broker.c -lrdkafka
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t running = 1;
static void on_signal(int sig) { (void)sig; running = 0; }

int main(int argc, char **argv) {
  char errstr[512];
  int brokers = argc > 1 ? atoi(argv[1]) : 1;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)); /* no CONFWARN noise */
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) { fprintf(stderr, "rd_kafka_new failed: %s\n", errstr); return 1; }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, brokers > 0 ? brokers : 1);
  if (!mcluster) { fprintf(stderr, "rd_kafka_mock_cluster_new failed\n"); return 1; }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);
  while (running) usleep(50 * 1000);
  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
