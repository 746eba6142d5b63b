-- While the collector's last commit has failed, /readyz writes this one row in a transaction of its
-- own, to learn that writes succeed again without waiting for traffic.
CREATE TABLE write_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at BIGINT NOT NULL                               -- epoch ms of the last probe
);
