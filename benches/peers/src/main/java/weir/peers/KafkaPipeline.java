package weir.peers;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.pekko.Done;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.kafka.CommitterSettings;
import org.apache.pekko.kafka.ConsumerMessage;
import org.apache.pekko.kafka.ConsumerSettings;
import org.apache.pekko.kafka.ProducerMessage;
import org.apache.pekko.kafka.ProducerSettings;
import org.apache.pekko.kafka.javadsl.Committer;
import org.apache.pekko.kafka.javadsl.Consumer;
import org.apache.pekko.kafka.javadsl.Producer;
import org.apache.pekko.stream.javadsl.Keep;

/**
 * Consume → map → produce → commit, at least once, the Pekko Connectors Kafka side of weir's
 * committable source → flexi flow → committer: {@code committableSource} over all partitions
 * of the input topic from offset 0 (manual assignment, a fresh group per run) → each record's
 * value to topic {@code bench-out} in a {@code ProducerMessage.single} with its offset as
 * pass-through → {@code Producer.flexiFlow} (linger.ms=5, other producer settings default) →
 * the pass-through → {@code Committer.sink} with batches of 1000. The time of a run is up to
 * the committer's completion (every record produced and acknowledged, every offset
 * committed); after each run the committed offsets and the output topic's growth are checked.
 *
 * <pre>
 * java -cp ... weir.peers.KafkaPipeline BOOTSTRAP bench-in 4 [200000 1000000 5000000]
 * </pre>
 *
 * prints {@code pekko_pipeline N=... rates=r1,r2,r3 ...} (M records/s) per length.
 */
public final class KafkaPipeline {
  static final String OUT = "bench-out";

  private KafkaPipeline() {}

  public static void main(String[] args) throws Exception {
    Peer peer = Peer.parse("KafkaPipeline", args);
    Peer.runAndExit("pekko-pipeline", system -> {
      try (Admin admin = peer.admin()) {
        Peer.createTopic(admin, OUT, peer.partitions);
        long available = Peer.endOffsets(admin, peer.topic, peer.partitions);
        long warmUp = Peer.warmUpLength(available);
        if (warmUp > 0) {
          pipe(system, admin, peer, warmUp, "warmup", 0);
        }
        for (long n : peer.lengths) {
          if (n > available) {
            Peer.skip("pekko_pipeline", n, "topic holds " + available + " records");
            continue;
          }
          List<Peer.Run> runs = Peer.newRuns();
          for (int run = 0; run < Peer.RUNS; run++) {
            runs.add(pipe(system, admin, peer, n, "pipeline", run));
          }
          Peer.report("pekko_pipeline", n, runs);
        }
      }
    });
  }

  static Peer.Run pipe(ActorSystem system, Admin admin, Peer peer, long n, String what, int run)
      throws Exception {
    String group = Peer.freshGroup(what, n, run);
    ConsumerSettings<byte[], byte[]> consumer =
        ConsumerSettings.create(system, new ByteArrayDeserializer(), new ByteArrayDeserializer())
            .withBootstrapServers(peer.bootstrap)
            .withGroupId(group)
            .withProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
            // Only after the timed part: with the drain below, the consumer actor can stop at
            // once on shutdown instead of the default 30 s (stop-timeout) later.
            .withStopTimeout(Duration.ZERO);
    ProducerSettings<byte[], byte[]> producer =
        ProducerSettings.create(system, new ByteArraySerializer(), new ByteArraySerializer())
            .withBootstrapServers(peer.bootstrap)
            .withProperty(ProducerConfig.LINGER_MS_CONFIG, "5");
    CommitterSettings committer = CommitterSettings.create(system).withMaxBatch(1000);
    long outBefore = Peer.endOffsets(admin, OUT, peer.partitions);

    long cpu0 = Peer.cpuNanos();
    long t0 = System.nanoTime();
    // Pekko's way to end a committable stream without losing its last commits (its
    // DrainingControl): stop the source (the consumer actor lives on and answers the commits),
    // let what is in flight drain, then shut down. take(n) instead would cancel the source and
    // stop the consumer actor after stop-timeout, under the committer's last batch. Records the
    // source still emits after the stop are dropped before the producer: exactly n go through.
    AtomicLong seen = new AtomicLong();
    CompletableFuture<Void> nth = new CompletableFuture<>();
    Pair<Consumer.Control, CompletionStage<Done>> running =
        Consumer.committableSource(consumer, peer.fromStart())
            .filter(m -> {
              long i = seen.incrementAndGet();
              if (i == n) {
                nth.complete(null);
              }
              return i <= n;
            })
            .map(m -> ProducerMessage.<byte[], byte[], ConsumerMessage.Committable>single(
                new ProducerRecord<>(OUT, m.record().value()), m.committableOffset()))
            .via(Producer.flexiFlow(producer))
            .map(ProducerMessage.Results::passThrough)
            .toMat(Committer.sink(committer), Keep.both())
            .run(system);
    Consumer.Control control = running.first();
    CompletionStage<Done> done = running.second();
    nth.thenRun(control::stop);
    Peer.await(done, 900);
    long wall = System.nanoTime() - t0;
    long cpu = Peer.cpuNanos() - cpu0;
    Peer.await(control.shutdown(), 60);

    // The records of each partition are read in order from 0, so the committed offsets add up
    // to n exactly; the output topic grew by at least n (more only if a send was retried).
    long committed = Peer.committed(admin, group);
    long produced = Peer.endOffsets(admin, OUT, peer.partitions) - outBefore;
    if (committed != n || produced < n) {
      throw new IllegalStateException(what + " of " + n + ": committed offsets add up to "
          + committed + ", " + produced + " records produced");
    }
    return new Peer.Run(n, wall, cpu);
  }
}
