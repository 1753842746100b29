namespace Research.Core.Distributed

open System
open System.Net

/// How the ranks of a data-parallel run meet: this process's rank among world-size processes, the
/// rendezvous (a TCPStore at MasterAddr:MasterPort, served by rank 0, or by torchrun's agent), and
/// how long any rank waits for the others.
type Launch =
    { Rank: int
      WorldSize: int
      /// The rank among the processes on this machine (torchrun's LOCAL_RANK, Slurm's SLURM_LOCALID).
      LocalRank: int
      MasterAddr: string
      MasterPort: int
      /// torchrun's restart count when the ranks meet at its agent's store
      /// (TORCHELASTIC_USE_AGENT_STORE): the agent serves the store, under "/worker/attempt_<n>".
      AgentAttempt: int option
      /// The longest wait for the other ranks: at the rendezvous and in every collective.
      Timeout: TimeSpan }

    /// Whether this process holds the run folder, prints, and broadcasts the state.
    member l.IsLeader = l.Rank = 0

/// Where a process stands: started by torchrun, by Slurm's srun, or by hand (explicit settings).
module Launch =
    /// The default --timeout: longer than rank 0's validation and checkpoint writing, while the
    /// others wait for it.
    let defaultTimeout = TimeSpan.FromMinutes 5.0

    let private number (source: string) (text: string) =
        match Int32.TryParse text with
        | true, v -> v
        | _ -> invalidArg source $"{source} is '{text}', not an integer"

    /// Checks a launch's numbers (ArgumentException naming what is wrong).
    let validate (l: Launch) =
        if l.WorldSize < 1 then invalidArg "world-size" $"the world size must be at least 1 (got {l.WorldSize})"
        if l.Rank < 0 || l.Rank >= l.WorldSize then
            invalidArg "rank" $"rank {l.Rank} is not one of the {l.WorldSize} ranks 0..{l.WorldSize - 1}"
        if l.MasterPort < 1 || l.MasterPort > 65535 then invalidArg "master-port" $"the master port must be 1..65535 (got {l.MasterPort})"
        if String.IsNullOrWhiteSpace l.MasterAddr then invalidArg "master-addr" "the master address is empty"
        if l.Timeout <= TimeSpan.Zero then invalidArg "timeout" $"--timeout must be positive (got {l.Timeout.TotalSeconds} s)"
        l

    /// The launch that torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, and its
    /// agent's store) or Slurm (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, with MASTER_ADDR and
    /// MASTER_PORT from the batch script) describe in the environment `env`; None when neither
    /// started this process. torchrun's variables win where both are set (torchrun under Slurm).
    let fromEnvironment (env: string -> string option) (timeout: TimeSpan) =
        let required (name: string) (launcher: string) =
            match env name with
            | Some v when v <> "" -> v
            | _ -> invalidArg name $"{launcher} started this process but {name} is not set"
        let master launcher =
            required "MASTER_ADDR" launcher, number "MASTER_PORT" (required "MASTER_PORT" launcher)
        match env "RANK", env "WORLD_SIZE", env "SLURM_PROCID", env "SLURM_NTASKS" with
        | Some rank, Some world, _, _ ->
            let addr, port = master "torchrun (RANK, WORLD_SIZE)"
            let agent =
                match env "TORCHELASTIC_USE_AGENT_STORE" with
                | Some v when v.Equals("true", StringComparison.OrdinalIgnoreCase) ->
                    Some(number "TORCHELASTIC_RESTART_COUNT" (defaultArg (env "TORCHELASTIC_RESTART_COUNT") "0"))
                | _ -> None
            Some(validate { Rank = number "RANK" rank; WorldSize = number "WORLD_SIZE" world
                            LocalRank = env "LOCAL_RANK" |> Option.map (number "LOCAL_RANK") |> Option.defaultValue 0
                            MasterAddr = addr; MasterPort = port; AgentAttempt = agent; Timeout = timeout })
        | _, _, Some rank, Some tasks when number "SLURM_NTASKS" tasks > 1 ->
            let addr, port = master "Slurm (SLURM_PROCID, SLURM_NTASKS)"
            Some(validate { Rank = number "SLURM_PROCID" rank; WorldSize = number "SLURM_NTASKS" tasks
                            LocalRank = env "SLURM_LOCALID" |> Option.map (number "SLURM_LOCALID") |> Option.defaultValue 0
                            MasterAddr = addr; MasterPort = port; AgentAttempt = None; Timeout = timeout })
        | _ -> None

    /// This process's environment.
    let environment (name: string) = Option.ofObj (Environment.GetEnvironmentVariable name)

    /// Whether an address is this machine's loopback (127.0.0.0/8, ::1 or "localhost").
    let isLoopback (address: string) =
        address.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (match IPAddress.TryParse address with
            | true, ip -> IPAddress.IsLoopback ip
            | _ -> false)

    /// The launch of a training command: a hand launch when `worldSize` is given (> 0; `rank`,
    /// `masterAddr` and `masterPort` with it), else what torchrun's or Slurm's environment says.
    /// None, the single-process path, when nothing describes a group or its world size is 1.
    let resolve (rank: int, worldSize: int, masterAddr: string, masterPort: int, timeoutSeconds: float) =
        if not (timeoutSeconds > 0.0 && Double.IsFinite timeoutSeconds) then
            invalidArg "timeout" $"--timeout must be a positive number of seconds (got {timeoutSeconds})"
        let timeout = TimeSpan.FromSeconds timeoutSeconds
        // -1 stands for "not given" in both.
        let launch =
            if worldSize = 0 || worldSize < -1 then invalidArg "world-size" $"--world-size must be positive (got {worldSize})"
            elif rank < -1 then invalidArg "rank" $"--rank must be 0 to world size - 1 (got {rank})"
            elif worldSize > 0 then
                if rank < 0 then invalidArg "rank" "--world-size needs --rank (this process's rank, 0 to world size - 1)"
                Some(validate { Rank = rank; WorldSize = worldSize; LocalRank = rank; MasterAddr = masterAddr
                                MasterPort = masterPort; AgentAttempt = None; Timeout = timeout })
            elif rank >= 0 then invalidArg "rank" "--rank needs --world-size"
            else fromEnvironment environment timeout
        launch |> Option.filter (fun l -> l.WorldSize > 1)
