-- A service of the runtime's own tests: requests that need their plan order first.
CREATE TABLE orders (plan_code text PRIMARY KEY);
CREATE TABLE answers (event_id uuid PRIMARY KEY, plan_code text NOT NULL, answer text NOT NULL);
