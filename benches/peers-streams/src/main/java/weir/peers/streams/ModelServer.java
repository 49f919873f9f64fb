package weir.peers.streams;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.jpmml.evaluator.Classification;
import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.HasProbability;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;

/**
 * The Kafka Streams peer of weir's model server (issue 10, workload 7): the same topology as
 * {@code examples/model_serving} — a data topic of protobuf wine records and a models topic of
 * model descriptors, the latest model kept per instance, each record scored with it and written
 * as JSON to the scored topic — scoring with JPMML-Evaluator.
 *
 * <p>{@code ModelServer BOOTSTRAP DATA MODELS SCORED PMML_FILE N [--smoke]}: the topics are
 * filled by weir's bench ({@code benches/model_serving_peers.rs}) with N records; each run is a
 * fresh application (so it reads the data topic from the start), its model installed from the
 * file before it starts, as weir's bench installs it. 5 warm-up runs, then 5 measured ones
 * (1 and 1 with {@code --smoke}); prints
 * {@code kstreams_model_serving N=.. rates=.. steady=.. wall_s=.. cpu_s=..}: M records/s of
 * whole runs (client start to closed, every result flushed and its offset committed), of the
 * steady part (first record read to the last one scored), and the JVM's CPU seconds per run.
 */
public final class ModelServer {
  private ModelServer() {}

  /** The features of a wine record, by protobuf field number 1..11 (the PMML field names). */
  static final String[] FEATURES = {
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
    "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
  };

  /** The same names in the JSON of a scored record (weir's `WineRecord` serde names). */
  static final String[] JSON_FEATURES = {
    "fixed_acidity", "volatile_acidity", "citric_acid", "residual_sugar", "chlorides",
    "free_sulfur_dioxide", "total_sulfur_dioxide", "density", "pH", "sulphates", "alcohol",
  };

  /** A model ready to score: its name and its verified evaluator. */
  record Model(String name, Evaluator evaluator) {
    static Model fromPmml(String name, byte[] pmml) throws Exception {
      Evaluator e = new LoadingModelEvaluatorBuilder().load(new ByteArrayInputStream(pmml)).build();
      e.verify();
      return new Model(name, e);
    }
  }

  /** A wine record's features, from protobuf (doubles 1..11 as fixed64, data type 12). */
  static double[] decodeWine(byte[] bytes) {
    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    double[] features = new double[FEATURES.length];
    String dataType = "";
    while (b.hasRemaining()) {
      long tag = varint(b);
      int field = (int) (tag >>> 3);
      int wire = (int) (tag & 7);
      if (wire == 1) {
        double v = b.getDouble();
        if (field >= 1 && field <= FEATURES.length) {
          features[field - 1] = v;
        }
      } else if (wire == 2) {
        int len = (int) varint(b);
        byte[] s = new byte[len];
        b.get(s);
        if (field == 12) {
          dataType = new String(s, StandardCharsets.UTF_8);
        }
      } else if (wire == 0) {
        varint(b);
      } else if (wire == 5) {
        b.getInt();
      } else {
        throw new IllegalArgumentException("invalid protobuf wine record");
      }
    }
    if (!dataType.equals("wine")) {
      throw new IllegalArgumentException("data type " + dataType + " is not wine");
    }
    return features;
  }

  /** A model descriptor's name and PMML (fields 1 and 4), from protobuf. */
  static Model decodeModel(byte[] bytes) throws Exception {
    ByteBuffer b = ByteBuffer.wrap(bytes);
    String name = "";
    byte[] data = new byte[0];
    while (b.hasRemaining()) {
      long tag = varint(b);
      int field = (int) (tag >>> 3);
      int wire = (int) (tag & 7);
      if (wire == 2) {
        byte[] s = new byte[(int) varint(b)];
        b.get(s);
        if (field == 1) {
          name = new String(s, StandardCharsets.UTF_8);
        } else if (field == 4) {
          data = s;
        }
      } else if (wire == 0) {
        varint(b);
      } else {
        throw new IllegalArgumentException("invalid protobuf model descriptor");
      }
    }
    return Model.fromPmml(name, data);
  }

  static long varint(ByteBuffer b) {
    long v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      byte x = b.get();
      v |= (long) (x & 0x7f) << shift;
      if (x >= 0) {
        return v;
      }
    }
    throw new IllegalArgumentException("varint too long");
  }

  /** Scores one record and writes weir's `ScoredRecord` JSON. */
  static String score(Model model, double[] features, int partition, long offset) {
    long started = System.nanoTime();
    StringBuilder result = new StringBuilder();
    if (model == null) {
      result.append("\"no_model\"");
    } else {
      try {
        Evaluator e = model.evaluator();
        Map<String, Object> arguments = new LinkedHashMap<>();
        for (InputField f : e.getInputFields()) {
          int i = indexOf(f.getName());
          arguments.put(f.getName(), f.prepare(i < 0 ? null : features[i]));
        }
        Map<String, ?> results = e.evaluate(arguments);
        Object target = results.get(e.getTargetFields().get(0).getName());
        if (target instanceof Classification<?, ?> c && c instanceof HasProbability p) {
          result.append("{\"class\":{\"class\":\"").append(c.getResult()).append("\",\"probabilities\":[");
          boolean first = true;
          for (Object category : p.getCategories()) {
            result.append(first ? "" : ",").append("[\"").append(category).append("\",")
                .append(p.getProbability(category)).append(']');
            first = false;
          }
          result.append("]}}");
        } else {
          result.append("{\"score\":").append(org.jpmml.evaluator.EvaluatorUtil.decode(target)).append('}');
        }
      } catch (RuntimeException ex) {
        result.setLength(0);
        result.append("{\"failed\":\"").append(String.valueOf(ex.getMessage()).replace("\"", "'")).append("\"}");
      }
    }
    double micros = (System.nanoTime() - started) / 1e3;
    StringBuilder out = new StringBuilder(512);
    out.append("{\"source\":{\"partition\":").append(partition).append(",\"offset\":").append(offset)
        .append("},\"record\":{");
    for (int i = 0; i < features.length; i++) {
      out.append('"').append(JSON_FEATURES[i]).append("\":").append(features[i]).append(',');
    }
    out.append("\"dataType\":\"wine\"},\"result\":").append(result);
    if (model != null) {
      out.append(",\"model\":\"").append(model.name()).append('"');
    }
    out.append(",\"scoring_micros\":").append(micros).append('}');
    return out.toString();
  }

  static int indexOf(String feature) {
    for (int i = 0; i < FEATURES.length; i++) {
      if (FEATURES[i].equals(feature)) {
        return i;
      }
    }
    return -1;
  }

  /** One run's measures. */
  record Run(double wallS, double steadyS, double cpuS) {}

  static Run run(String bootstrap, String data, String models, String scored, Model installed,
      long n) throws InterruptedException {
    AtomicReference<Model> current = new AtomicReference<>(installed);
    AtomicLong scoredCount = new AtomicLong();
    AtomicLong firstIn = new AtomicLong();
    CountDownLatch done = new CountDownLatch(1);

    StreamsBuilder builder = new StreamsBuilder();
    // Models: the latest one replaces the current (a broken one is logged and skipped).
    builder.stream(models, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .foreach((k, v) -> {
          try {
            current.set(decodeModel(v));
          } catch (Exception ex) {
            System.err.println("model server: skipped a model: " + ex);
          }
        });
    builder.stream(data, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .process(() -> new Processor<byte[], byte[], String, String>() {
          private ProcessorContext<String, String> context;

          @Override
          public void init(ProcessorContext<String, String> context) {
            this.context = context;
          }

          @Override
          public void process(Record<byte[], byte[]> record) {
            firstIn.compareAndSet(0, System.nanoTime());
            RecordMetadata at = context.recordMetadata().orElseThrow();
            double[] features;
            try {
              features = decodeWine(record.value());
            } catch (RuntimeException ex) {
              // Malformed: skipped, as weir's server skips and commits it.
              count();
              return;
            }
            String json = score(current.get(), features, at.partition(), at.offset());
            context.forward(record.withKey(at.partition() + ":" + at.offset()).withValue(json));
            count();
          }

          private void count() {
            if (scoredCount.incrementAndGet() == n) {
              done.countDown();
            }
          }
        })
        .to(scored, Produced.with(Serdes.String(), Serdes.String()));

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "ms-peer-" + UUID.randomUUID());
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.STATE_DIR_CONFIG,
        System.getProperty("java.io.tmpdir") + "/weir-kstreams-" + ProcessHandle.current().pid());
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    double cpu0 = cpuSeconds();
    long start = System.nanoTime();
    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    streams.start();
    if (!done.await(600, TimeUnit.SECONDS)) {
      throw new IllegalStateException("scored " + scoredCount.get() + " of " + n + " records");
    }
    long last = System.nanoTime();
    // Closing flushes the producer and commits the offsets of what was processed.
    streams.close(java.time.Duration.ofSeconds(60));
    streams.cleanUp();
    long end = System.nanoTime();
    return new Run((end - start) / 1e9, (last - firstIn.get()) / 1e9, cpuSeconds() - cpu0);
  }

  static double cpuSeconds() {
    var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    return os.getProcessCpuTime() / 1e9;
  }

  static String join(List<Double> xs) {
    return xs.stream().map(x -> String.format(Locale.ROOT, "%.4f", x)).collect(Collectors.joining(","));
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 6) {
      System.err.println("usage: ModelServer BOOTSTRAP DATA MODELS SCORED PMML_FILE N [--smoke]");
      System.exit(2);
    }
    String bootstrap = args[0];
    String data = args[1];
    String models = args[2];
    String scored = args[3];
    Path pmml = Path.of(args[4]);
    long n = Long.parseLong(args[5].replace("_", ""));
    boolean smoke = args.length > 6 && args[6].equals("--smoke");
    int warmUps = smoke ? 1 : 5;
    int measured = smoke ? 1 : 5;
    String name = pmml.getFileName().toString().replaceFirst("\\.pmml$", "");
    Model model;
    try {
      model = Model.fromPmml(name, Files.readAllBytes(pmml));
    } catch (IOException ex) {
      throw new IllegalArgumentException("cannot read " + pmml, ex);
    }
    for (int i = 0; i < warmUps; i++) {
      run(bootstrap, data, models, scored, model, n);
    }
    List<Double> rates = new ArrayList<>();
    List<Double> steady = new ArrayList<>();
    List<Double> wall = new ArrayList<>();
    List<Double> cpu = new ArrayList<>();
    for (int i = 0; i < measured; i++) {
      Run r = run(bootstrap, data, models, scored, model, n);
      rates.add(n / r.wallS() / 1e6);
      steady.add(n / r.steadyS() / 1e6);
      wall.add(r.wallS());
      cpu.add(r.cpuS());
    }
    System.out.println("kstreams_model_serving N=" + n + " rates=" + join(rates) + " steady="
        + join(steady) + " wall_s=" + join(wall) + " cpu_s=" + join(cpu));
  }
}
