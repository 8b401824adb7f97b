// The LAMP web application: answers every GET with the Tomcat instance's name and the value read from MySQL.
// Its settings come from conf/lamp.properties of the CATALINA_BASE, re-read at each request, so the recipes
// change the database without restarting Tomcat. Compiled by deploy.sh against Tomcat 10's servlet API.
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Properties;

public class LampServlet extends HttpServlet {
  /** How long a database connection may take, in seconds. */
  private static final int LOGIN_TIMEOUT_S = 5;

  @Override
  public void init () {
    try {
      // the driver is in WEB-INF/lib: register it explicitly, DriverManager's service scan may not see it
      Class.forName("org.mariadb.jdbc.Driver");
    } catch (ClassNotFoundException e) {
      log("MariaDB JDBC driver missing from WEB-INF/lib (Debian package libmariadb-java)", e);
    }
    DriverManager.setLoginTimeout(LOGIN_TIMEOUT_S);
  }

  @Override
  protected void doGet (HttpServletRequest request, HttpServletResponse response) throws IOException {
    Properties settings = new Properties();
    try (InputStream in = new FileInputStream(Path.of(System.getProperty("catalina.base"), "conf", "lamp.properties").toFile())) {
      settings.load(in);
    }
    String name = settings.getProperty("name", "");
    response.setContentType("application/json");
    response.setCharacterEncoding("UTF-8");
    try (Connection connection = DriverManager.getConnection(settings.getProperty("url"),
           settings.getProperty("user"), settings.getProperty("password", ""));
         PreparedStatement query = connection.prepareStatement("SELECT value FROM lamp_values WHERE name = ?")) {
      query.setString(1, settings.getProperty("key", "message"));
      try (ResultSet rows = query.executeQuery()) {
        if (!rows.next()) throw new SQLException("no row in lamp_values for " + settings.getProperty("key", "message"));
        response.getWriter().print("{\"name\":" + json(name) + ",\"value\":" + json(rows.getString(1)) + "}");
      }
    } catch (SQLException e) {
      response.setStatus(HttpServletResponse.SC_BAD_GATEWAY);
      response.getWriter().print("{\"name\":" + json(name) + ",\"error\":" + json("database: " + e.getMessage()) + "}");
    }
  }

  private static String json (String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }
}
