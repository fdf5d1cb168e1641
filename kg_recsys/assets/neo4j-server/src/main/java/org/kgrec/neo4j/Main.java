package org.kgrec.neo4j;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * kg-recsys' Neo4j server: Neo4j Community 5.26 embedded, Bolt on 127.0.0.1, auth on.
 *
 * <p>Usage: {@code java @jvm.options -cp "target/classes:target/lib/*" org.kgrec.neo4j.Main
 * --home DIR [--bolt-port 7687] [--http-port 7474|0] [--pagecache 512m]}. Each option falls back
 * to an environment variable ({@code KGREC_NEO4J_HOME}, {@code KGREC_NEO4J_BOLT_PORT},
 * {@code KGREC_NEO4J_HTTP_PORT}, {@code KGREC_NEO4J_PAGECACHE}). The password of user
 * {@code neo4j} is taken from {@code KGREC_NEO4J_PASSWORD} and (re)applied on every start, so
 * the environment variable is the one source of truth. Once Bolt is up and the password is set
 * it prints {@code kgrec-neo4j ready bolt://127.0.0.1:PORT}.
 */
public final class Main {
    private static final String SYSTEM_DATABASE = "system";

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parse(args);
        Path home = Path.of(option(options, "home", "KGREC_NEO4J_HOME", ".kgrec/neo4j/home")).toAbsolutePath();
        int boltPort = Integer.parseInt(option(options, "bolt-port", "KGREC_NEO4J_BOLT_PORT", "7687"));
        int httpPort = Integer.parseInt(option(options, "http-port", "KGREC_NEO4J_HTTP_PORT", "7474"));
        String pagecache = option(options, "pagecache", "KGREC_NEO4J_PAGECACHE", "512m");
        String password = System.getenv("KGREC_NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            fail("set KGREC_NEO4J_PASSWORD (at least 8 characters, Neo4j's minimum) before starting");
        }
        Files.createDirectories(home);

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", boltPort))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", boltPort))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, parseBytes(pagecache))
                // A dev/test server: keep transaction logs small instead of the default two days.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "256M size")
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("kgrec-neo4j stopping");
            dbms.shutdown();
            stopped.countDown();
            System.out.println("kgrec-neo4j stopped");
        }, "kgrec-neo4j-shutdown"));

        setPassword(dbms.database(SYSTEM_DATABASE), password);
        HttpServer browser = httpPort > 0 ? serveBrowser(httpPort, boltPort) : null;
        System.out.println("kgrec-neo4j ready bolt://127.0.0.1:" + boltPort
                + (browser != null ? " browser http://127.0.0.1:" + httpPort + "/browser/" : ""));
        System.out.flush();
        stopped.await();
    }

    /**
     * Sets the password of {@code neo4j} through the system database. A fresh store has the
     * default password with "change required"; this clears that flag. Setting the password it
     * already has is refused by Neo4j, which is fine: it is already what we want.
     */
    private static void setPassword(GraphDatabaseService system, String password) {
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException error) {
            String message = String.valueOf(error.getMessage()).toLowerCase(Locale.ROOT);
            if (!message.contains("cannot be the same")) {
                throw error;
            }
        }
    }

    /**
     * Serves Neo4j Browser's static files (from the neo4j-browser jar on the classpath) and the
     * discovery document that tells Browser where Bolt is. Browser then talks Bolt over
     * WebSocket, which Neo4j's Bolt port accepts.
     */
    private static HttpServer serveBrowser(int httpPort, int boltPort) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", httpPort), 0);
        String discovery = "{\"bolt_direct\":\"bolt://127.0.0.1:" + boltPort + "\","
                + "\"bolt_routing\":\"neo4j://127.0.0.1:" + boltPort + "\","
                + "\"neo4j_version\":\"5.26\",\"neo4j_edition\":\"community\"}";
        server.createContext("/", exchange -> {
            try (exchange) {
                String path = exchange.getRequestURI().getPath();
                if (path.equals("/")) {
                    String accept = String.valueOf(exchange.getRequestHeaders().getFirst("Accept"));
                    if (accept.contains("text/html")) {
                        exchange.getResponseHeaders().add("Location", "/browser/");
                        exchange.sendResponseHeaders(303, -1);
                    } else {
                        send(exchange, 200, "application/json", discovery.getBytes(StandardCharsets.UTF_8));
                    }
                    return;
                }
                if (path.equals("/browser")) {
                    exchange.getResponseHeaders().add("Location", "/browser/");
                    exchange.sendResponseHeaders(301, -1);
                    return;
                }
                if (!path.startsWith("/browser/") || path.contains("..")) {
                    send(exchange, 404, "text/plain", "not found".getBytes(StandardCharsets.UTF_8));
                    return;
                }
                String resource = path.endsWith("/") ? path.substring(1) + "index.html" : path.substring(1);
                try (InputStream in = Main.class.getClassLoader().getResourceAsStream(resource)) {
                    if (in == null) {
                        send(exchange, 404, "text/plain", "not found".getBytes(StandardCharsets.UTF_8));
                    } else {
                        send(exchange, 200, contentType(resource), in.readAllBytes());
                    }
                }
            }
        });
        server.setExecutor(Executors.newFixedThreadPool(2));
        server.start();
        return server;
    }

    private static void send(HttpExchange exchange, int status, String type, byte[] body) throws IOException {
        exchange.getResponseHeaders().add("Content-Type", type);
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    private static String contentType(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (lower.endsWith(".html")) return "text/html; charset=utf-8";
        if (lower.endsWith(".js")) return "application/javascript";
        if (lower.endsWith(".css")) return "text/css";
        if (lower.endsWith(".json")) return "application/json";
        if (lower.endsWith(".svg")) return "image/svg+xml";
        if (lower.endsWith(".png")) return "image/png";
        if (lower.endsWith(".ico")) return "image/x-icon";
        if (lower.endsWith(".woff")) return "font/woff";
        if (lower.endsWith(".woff2")) return "font/woff2";
        if (lower.endsWith(".ttf")) return "font/ttf";
        return "application/octet-stream";
    }

    private static long parseBytes(String text) {
        String value = text.trim().toLowerCase(Locale.ROOT);
        long number = Long.parseLong(value.replaceAll("[kmg]$", ""));
        if (value.endsWith("g")) return ByteUnit.gibiBytes(number);
        if (value.endsWith("m")) return ByteUnit.mebiBytes(number);
        if (value.endsWith("k")) return ByteUnit.kibiBytes(number);
        return number;
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> options = new java.util.HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("-h") || arg.equals("--help")) {
                System.out.println("usage: Main --home DIR [--bolt-port 7687] [--http-port 7474|0] [--pagecache 512m]"
                        + "\n  password of user neo4j: env KGREC_NEO4J_PASSWORD (required)");
                System.exit(0);
            }
            if (!arg.startsWith("--") || i + 1 >= args.length) {
                fail("unexpected argument " + arg + " (try --help)");
            }
            options.put(arg.substring(2), args[++i]);
        }
        return options;
    }

    private static String option(Map<String, String> options, String name, String env, String fallback) {
        String value = options.get(name);
        if (value == null) value = System.getenv(env);
        return value == null || value.isBlank() ? fallback : value;
    }

    private static void fail(String message) {
        System.err.println("kgrec-neo4j: " + message);
        System.exit(2);
    }
}
