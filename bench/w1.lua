-- wrk script: W1 load. The yardsticks' points_add.lua as it is, its random generator seeded
-- apart in each thread. Unseeded, LuaJIT's generator starts from the same state in every Lua
-- state: wrk's two threads would ask for the same customers in the same order, and every run
-- for the ones the runs before asked for (docs/DECISIONS.md, "The benchmark's customers").
-- Env: BENCH_W1_SCRIPT (the path of the yardsticks' points_add.lua) and that script's own.
dofile(os.getenv("BENCH_W1_SCRIPT"))

local yardstick_init = init

function init(args)
  -- points_add.lua's setup() gives each thread a `tag`, "<the run's start time>-<thread>".
  local started, thread = tag:match("^(%d+)-(%d+)$")
  math.randomseed(tonumber(started) * 64 + tonumber(thread))
  if yardstick_init then yardstick_init(args) end
end
