using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using Microsoft.FSharp.Core;
using static Research.Experiments.CommandLine;
using Research.Core;
using Research.Core.Benchmarks;
using Research.Core.Models;
using Research.Core.Distributed;
using Research.Core.Training;

namespace Research.Experiments.Commands;

/// <summary>`research bench <family>`: a family's training epoch (its `train` command's) timed here
/// and in its PyTorch peer (bench/*_pytorch.py, the same libtorch) with the same threads, the sides
/// taking turns, each a fresh process every time; prints seconds per epoch, the speed ratio and, where the GEMM work is known, the
/// share of the machine's sgemm rate each side reaches. With --ranks N, data-parallel: N ranks of
/// one thread each beside one process of --threads threads, one process of one thread (the bound
/// perfect scaling sets) and PyTorch's own DistributedDataParallel of N ranks of one thread (under
/// torchrun).</summary>
public static class BenchCommand
{
    /// `bench <family>` for every family in the registry that has a benchmark.
    public static Command Build()
    {
        var command = new Command("bench", "Benchmarks against PyTorch.");
        foreach (var family in Registry.entries())
            if (family.Bench is { } bench)
                command.Subcommands.Add(Family(bench.Value));
        return command;
    }

    /// The options every benchmark shares, and its data-parallel worker mode.
    internal sealed class Common
    {
        public readonly Option<int> Epochs, Limit, Threads, Seed, Rounds, Sgemm, Ranks, WorkerRank, MasterPort;
        public readonly Option<string> Python;
        public readonly Option<string?> Script, Data;
        public readonly Option<bool> SkipPyTorch;

        public Common(string family, int epochs, int limit, string limitHelp, string threadsHelp)
        {
            Epochs = Opt("--epochs", "epochs to time on each side", epochs);
            Limit = Opt("--limit", limitHelp, limit);
            Threads = Opt("--threads", threadsHelp, RunSettingsModule.defaults.Threads);
            Seed = Opt("--seed", "random seed of each side", 1);
            Rounds = Opt("--rounds", "times each side runs, taking turns, each time in a fresh process (a busy machine's load then hits all sides alike)", 1);
            Sgemm = Opt("--sgemm-size", "n of the n x n x n float32 product that measures the machine's sgemm rate", 1024);
            Python = Opt("--python", "Python interpreter with torch (Debian's python3-torch uses the same libtorch)", "/usr/bin/python3");
            Script = Opt<string?>("--script", $"the PyTorch peer (default: bench/{family}_pytorch.py of the repository)", null);
            SkipPyTorch = Opt("--skip-pytorch", "time only this workspace's side(s)", false);
            Data = DataOpt();
            Ranks = Opt("--ranks", "data-parallel: time N ranks of one thread each beside one process of --threads threads, one of 1 thread (whose epoch / N bounds the ranks' speed-up) and PyTorch's DDP of N ranks (1 = no data-parallel sides)", 1);
            WorkerRank = new Option<int>("--worker-rank") { Description = "(internal) run as this rank of a timed side", DefaultValueFactory = _ => -1, Hidden = true };
            MasterPort = new Option<int>("--master-port") { Description = "(internal) the data-parallel side's rendezvous port", DefaultValueFactory = _ => 0, Hidden = true };
        }

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { Epochs, Limit, Threads, Seed, Rounds, Sgemm, Python, Script, SkipPyTorch, Data, Ranks, WorkerRank, MasterPort })
                command.Options.Add(option);
        }

        public int Rounds_(ParseResult r) =>
            r.GetValue(Rounds) >= 1 ? r.GetValue(Rounds) : throw new ArgumentException($"--rounds must be at least 1 (got {r.GetValue(Rounds)})");

        public int SgemmSize(ParseResult r) =>
            r.GetValue(Sgemm) >= 1 ? r.GetValue(Sgemm) : throw new ArgumentException($"--sgemm-size must be at least 1 (got {r.GetValue(Sgemm)})");

        public int Ranks_(ParseResult r) =>
            r.GetValue(Ranks) is var n && n >= 1 && n <= 64 ? n : throw new ArgumentException($"--ranks must be between 1 and 64 (got {r.GetValue(Ranks)})");

        /// Whether this process is one that a benchmark started to time a side: the one-process side
        /// (--ranks 1) or one rank of the data-parallel side.
        public bool IsWorker(ParseResult r) => r.GetValue(WorkerRank) >= 0;

        /// A worker's launch: its rank of the data-parallel side, or None for the one-process side.
        public FSharpOption<Launch> WorkerLaunch(ParseResult r) =>
            Ranks_(r) == 1 ? FSharpOption<Launch>.None : FSharpOption<Launch>.Some(LaunchModule.validate(new Launch(r.GetValue(WorkerRank), Ranks_(r),
                r.GetValue(WorkerRank), "127.0.0.1", r.GetValue(MasterPort), null, LaunchModule.defaultTimeout)));

        /// The one-process side: this program started afresh with the family's own arguments and
        /// its threads, so that it starts as cold as the other sides' processes (a process's later
        /// rounds run 5-15% faster: compiled code, oneDNN's primitive cache); its epochs and the
        /// oneDNN primitives it ran are read from its output, and its other lines (oneDNN's own,
        /// under ONEDNN_VERBOSE) printed.
        public static EpochTiming[] RunOne(string[] family, int threads, (int IntraOp, int Blas) split, Action<EpochTiming> epochDone,
                                           ISet<OneDnnPrimitive> ran)
        {
            return RunSelf([.. family, "--threads", threads.ToString(), "--intra-op-threads", split.IntraOp.ToString(),
                            "--blas-threads", split.Blas.ToString(), "--worker-rank", "0"], split.Blas, epochDone,
                line =>
                {
                    if (line.StartsWith("{\"primitive\"")) ran.Add(JsonSerializer.Deserialize<PrimitiveLine>(line)!.primitive);
                    else Console.WriteLine(line);
                }).Epochs;
        }

        /// `research bench <args>` (`args` beginning with the family's own, --epochs among them) as a
        /// timed side: its epochs are read from its output, its other lines handed to `otherLine`.
        static PyTorchRun RunSelf(string[] args, int blasThreads, Action<EpochTiming> epochDone, Action<string>? otherLine = null) =>
            PyTorchPeer.RunSide(Environment.ProcessPath!, Microsoft.FSharp.Collections.ListModule.OfArray(SelfArgs(args)),
                Microsoft.FSharp.Collections.FSharpList<Tuple<string, string>>.Empty, int.Parse(args[Array.IndexOf(args, "--epochs") + 1]),
                blasThreads, epochDone, otherLine);

        /// The command line of this program's `bench <args>`, after the runtime's own path.
        static string[] SelfArgs(string[] args) => [Assembly.GetEntryAssembly()!.Location, "bench", .. args];

        /// How the one-process side reports a oneDNN primitive it ran.
        sealed record PrimitiveLine(OneDnnPrimitive primitive);

        /// The one-process side, as RunOne starts it: its epochs under oneDNN's log of what it ran (a
        /// trace costs nothing measurable), then the primitives, one JSON line each.
        public static int PrintOne(Func<EpochTiming[]> run)
        {
            var (epochs, ran) = OneDnn.trace(FuncConvert.FromFunc(run)).ToValueTuple();
            PrintEpochs(epochs);
            foreach (var p in ran) Console.WriteLine(JsonSerializer.Serialize(new PrimitiveLine(p)));
            return 0;
        }

        /// A data-parallel side of `ranks` ranks: this program started once per rank, with the
        /// family's own arguments and one thread each; rank 0's epochs are read from its output.
        public static PyTorchRun RunRanks(string[] family, int ranks, Action<EpochTiming> epochDone)
        {
            var port = PyTorchPeer.FreePort();
            string[] Args(int rank) => [.. family, "--threads", "1", "--ranks", ranks.ToString(), "--worker-rank", rank.ToString(), "--master-port", port.ToString()];
            var others = Enumerable.Range(1, ranks - 1).Select(rank =>
            {
                var info = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in SelfArgs(Args(rank))) info.ArgumentList.Add(a);
                return Research.Core.IO.Signals.start(info);
            }).ToList();
            try
            {
                return RunSelf(Args(0), 1, epochDone);
            }
            finally
            {
                foreach (var p in others)
                {
                    var err = p.StandardError.ReadToEndAsync();
                    p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    if (p.ExitCode != 0) Console.Error.WriteLine($"note: a rank of the data-parallel side failed: {err.Result.Trim()}");
                    p.Dispose();
                }
            }
        }

        /// As a rank of a data-parallel side: rank 0 prints its epochs, as the PyTorch peers do.
        public static int PrintRank(Launch launch, EpochTiming[] epochs)
        {
            if (launch.IsLeader) PrintEpochs(epochs);
            return 0;
        }

        /// One JSON line per epoch, as the PyTorch peers print them; "collectives" only where measured (JSON has no NaN).
        static void PrintEpochs(EpochTiming[] epochs)
        {
            foreach (var e in epochs)
                Console.WriteLine(double.IsNaN(e.Collectives)
                    ? JsonSerializer.Serialize(new { epoch = e.Epoch, seconds = e.Seconds, images = e.Images, loss = e.Loss })
                    : JsonSerializer.Serialize(new { epoch = e.Epoch, seconds = e.Seconds, images = e.Images, loss = e.Loss, collectives = e.Collectives }));
        }
    }

    /// `bench <family>`: each of the family's models (--arch picks one where it has several) timed
    /// here and in its PyTorch peer, each side with its own split of --threads unless the overrides
    /// give one to both.
    static Command Family(FamilyBenchmark bench)
    {
        var common = new Common(bench.Family, bench.Epochs, bench.Limit, bench.LimitHelp, bench.ThreadsHelp);
        var intraOp = Opt("--intra-op-threads", "override: libtorch intra-op (OpenMP) threads on both sides (0 = each side's split of --threads)", 0);
        var blas = Opt("--blas-threads", "override: OpenBLAS threads on both sides (0 = each side's split of --threads)", 0);
        var models = bench.Models.ToArray();
        var names = models.Select(m => m.Name).ToArray();
        var arch = models.Length > 1 ? Opt("--arch", $"the model to time: {string.Join(" | ", names)} | all", "all") : null;
        var command = new Command(bench.Family, bench.Description) { intraOp, blas };
        if (arch is not null) command.Options.Add(arch);
        common.AddTo(command);
        command.SetAction(r =>
        {
            // The counts are checked before any work, the peer script's lookup included.
            var (rounds, ranks, sgemmSize) = (common.Rounds_(r), common.Ranks_(r), common.SgemmSize(r));
            foreach (var threads in new[] { intraOp, blas })
                if (r.GetValue(threads) < 0) throw new ArgumentException($"{threads.Name} must be 0 or more (got {r.GetValue(threads)})");
            var settings = bench.Settings(r.GetValue(common.Epochs), r.GetValue(common.Limit), r.GetValue(common.Threads), r.GetValue(common.Seed));
            var dataFolder = r.GetValue(common.Data);
            var data = dataFolder is null ? FSharpOption<string>.None : FSharpOption<string>.Some(dataFolder);
            var chosen = arch is null || r.GetValue(arch) == "all" ? models
                : [models.SingleOrDefault(m => m.Name == r.GetValue(arch)) ?? throw new ArgumentException($"--arch: no model '{r.GetValue(arch)}' (expected {string.Join(", ", names)} or all)")];
            (int, int) Split(Tuple<int, int> split) =>
                (r.GetValue(intraOp) > 0 ? r.GetValue(intraOp) : split.Item1, r.GetValue(blas) > 0 ? r.GetValue(blas) : split.Item2);
            EpochTiming[] Run(BenchModel model, FSharpOption<Launch> launch) => FSharpFunc<RunSettings, FSharpOption<Launch>>.InvokeFast(model.Run, settings, launch, data);
            if (common.IsWorker(r))
            {
                var model = chosen.Single();
                UseThreads(Split(model.Threads.Invoke(settings.Threads)));
                var launch = common.WorkerLaunch(r);
                return FSharpOption<Launch>.get_IsSome(launch) ? Common.PrintRank(launch.Value, Run(model, launch)) : Common.PrintOne(() => Run(model, launch));
            }
            var (python, script) = Peer(r, common, bench.PyTorchScript);
            // MNIST is read once here, before any side starts: a missing or malformed file is its own
            // one-line error, not a side's failure.
            using (Research.Core.Data.Mnist.load(dataFolder is null ? null : Path.Combine(dataFolder, "mnist"))) { }
            var images = settings.TrainLimit > 0 ? Math.Min(settings.TrainLimit, 60000) : 60000;
            var steps = (images + settings.BatchSize - 1) / settings.BatchSize;
            foreach (var model in chosen)
            {
                var ours = Split(model.Threads.Invoke(settings.Threads));
                var theirs = Split(model.PeerThreads.Invoke(settings.Threads));
                var title = $"{model.Title}, batch {settings.BatchSize}, {settings.Epochs} epoch(s) of {images} images = {steps} steps per side and round";
                string[] which = arch is null ? [] : ["--arch", model.Name];
                string[] family = [bench.Family, .. which, "--epochs", settings.Epochs.ToString(), "--limit", settings.TrainLimit.ToString(), "--seed", settings.Seed.ToString(), .. DataArgs(r, common)];
                long? flops = FSharpOption<long>.get_IsSome(model.FlopsPerImage) ? model.FlopsPerImage.Value : null;
                Compare(title, rounds, ranks, ours, theirs, sgemmSize, flops, images, model.Target,
                    e => Common.RunOne(family, settings.Threads, ours, e, primitives),
                    e => Common.RunOne(family, 1, model.Threads.Invoke(1).ToValueTuple(), e, primitives),
                    family,
                    python is null ? null : (ranks, epochDone) => model.RunPyTorch(python, script!, settings, ranks > 1 ? 1 : theirs.Item1, ranks > 1 ? 1 : theirs.Item2, dataFolder, epochDone, ranks),
                    $"{python} {string.Join(" ", [Path.GetFileName(script), .. which])}");
                if (chosen.Length > 1) Console.WriteLine();
            }
            return 0;
        });
        return command;
    }

    internal static (string? python, string? script) Peer(ParseResult r, Common common, Func<string> defaultScript)
    {
        if (r.GetValue(common.SkipPyTorch)) return (null, null);
        var (python, script) = (r.GetValue(common.Python)!, r.GetValue(common.Script) ?? defaultScript());
        PyTorchPeer.CheckPython(python);
        return (python, script);
    }

    internal static string[] DataArgs(ParseResult r, Common common) => r.GetValue(common.Data) is { } data ? ["--data", data] : [];

    internal static void UseThreads((int intraOp, int blas) threads) => UseThreads(threads.intraOp, threads.blas);

    internal static void UseThreads(int intraOp, int blas)
    {
        torch.set_num_threads(intraOp);
        torch.set_openblas_threads(blas);
    }

    /// Times the sides in turns, `rounds` times: this workspace in one process of its threads and its
    /// PyTorch peer with the peer's (`theirThreads`: only printed and used for the system BLAS's rate
    /// here; `theirs` starts the peer with them); with ranks above 1, this workspace in one process
    /// of one thread (`oursOneThread`), its `ranks` ranks of one thread (this program's `family`
    /// arguments, started once per rank) and PyTorch's DDP of as many ranks instead of the
    /// single-process peer. Prints seconds per epoch, the ratios and, where the GEMM work is known,
    /// the share of the machine's sgemm rate each side reaches.
    internal static int Compare(string title, int rounds, int ranks, (int IntraOp, int Blas) ourThreads, (int IntraOp, int Blas) theirThreads, int sgemmSize,
                       long? flopsPerImage, int images, double target, Func<Action<EpochTiming>, EpochTiming[]> ours,
                       Func<Action<EpochTiming>, EpochTiming[]> oursOneThread, string[] family,
                       Func<int, Action<EpochTiming>, PyTorchRun>? theirs, string theirName)
    {
        var (intraOpThreads, blasThreads) = ourThreads;
        Console.WriteLine(title);
        var load = OtherLoad();
        Console.WriteLine($"CPU: {OneDnn.cpuModel()}; oneDNN dispatches to {OneDnn.isa()}");
        Console.WriteLine($"threads: libtorch intra-op {intraOpThreads}, OpenBLAS {blasThreads}" +
                          (ranks > 1 ? $"; data-parallel sides: {ranks} ranks of 1 thread each" :
                           ourThreads == theirThreads ? " (both sides)" : $"; PyTorch's: intra-op {theirThreads.IntraOp}, OpenBLAS {theirThreads.Blas}") +
                          $"; {load.Text}");
        if (load.Contended)
            Console.WriteLine("note: other jobs are running, so the timings are contended; while they run, --threads 1 is the fastest setting of both sides");
        // The machine's sgemm rate, each side's products with its threads: the better is the reference.
        UseThreads(theirThreads.IntraOp, theirThreads.Blas);
        var blasRate = PyTorchPeer.SgemmRate(sgemmSize, 5, true);
        UseThreads(intraOpThreads, blasThreads);
        var oneDnnRate = PyTorchPeer.SgemmRate(sgemmSize, 5, false);
        var rate = Math.Max(blasRate, oneDnnRate);
        Console.WriteLine($"sgemm {sgemmSize}x{sgemmSize}x{sgemmSize}, best of 5: {oneDnnRate:F1} GFLOP/s through oneDNN (this workspace's linear layers), " +
                          $"{blasRate:F1} through the system BLAS (PyTorch's products)");
        if (flopsPerImage is long f)
            Console.WriteLine($"GEMM work per epoch: {f * images:N0} FLOP = {f:N0} per image " +
                              $"(forward, weight- and input-gradient products) x {images} images");

        var ourName = ranks > 1 ? $"research 1 x {intraOpThreads + blasThreads - 1}" : "research";
        var sides = new List<(string Name, string Heading, Func<Action<EpochTiming>, EpochTiming[]> Run, List<EpochTiming> Epochs)>
        {
            (ourName, $"research (.NET, libtorch){(ranks > 1 ? ", one process" : "")}", ours, new()),
        };
        var (oneThread, parallel, ddp) = ("research 1 x 1", $"research {ranks} x 1", $"PyTorch DDP {ranks} x 1");
        if (ranks > 1)
        {
            // One thread alone bounds what the ranks can reach: perfect scaling divides its epoch by
            // ranks. With --threads 1 the one-process side is that process.
            if (ourName != oneThread) sides.Add((oneThread, "research, one process of 1 thread", oursOneThread, new()));
            sides.Add((parallel, $"research, {ranks} ranks of 1 thread", e => Common.RunRanks(family, ranks, e).Epochs, new()));
        }
        if (theirs is not null)
            sides.Add((ranks > 1 ? ddp : "PyTorch", ranks > 1 ? $"PyTorch DDP, {ranks} ranks of 1 thread ({theirName} --ddp under torchrun)" : $"PyTorch ({theirName})",
                e =>
                {
                    var run = theirs(ranks, e);
                    Console.WriteLine($"  torch {run.Version}, its threads: intra-op {run.IntraOpThreads}, OpenBLAS {run.BlasThreads}; {OtherLoad().Text}");
                    return run.Epochs;
                }, new()));

        // The sides take turns, so that a change in the machine's load over the run hits all alike.
        for (var round = 1; round <= rounds; round++)
            foreach (var side in sides)
            {
                Console.WriteLine($"{side.Heading}, round {round}:");
                side.Epochs.AddRange(side.Run(e => PrintEpoch(e, flopsPerImage, rate)));
            }

        var reference = primitives.Where(p => p.IsReference).ToList();
        Console.WriteLine(reference.Count == 0
            ? $"oneDNN ran {primitives.Count} kinds of primitive in this workspace's one-process runs, none a reference kernel"
            : $"warning: oneDNN ran reference kernels in this workspace's one-process runs (slow): {string.Join("; ", reference)}");
        var best = sides.ToDictionary(s => s.Name, s => Summary(s.Name, s.Epochs, flopsPerImage, rate));
        double Mean(string name) => sides.Single(s => s.Name == name).Epochs.Average(e => e.Seconds);
        void Ratio(string what, string slow, string fast, double goal) =>
            Console.WriteLine($"{what} ({slow} s/epoch / {fast} s/epoch): {best[slow] / best[fast]:F2}x best epoch, {Mean(slow) / Mean(fast):F2}x mean (target {goal}x)");
        if (ranks > 1)
        {
            var epochs = sides.Single(s => s.Name == parallel).Epochs;
            var share = epochs.Sum(e => e.Collectives) / epochs.Sum(e => e.Seconds);
            Console.WriteLine($"{parallel}: {share:P0} of rank 0's epoch time in the collectives (gradient reduction and the steps' figures, waits included)");
            Console.WriteLine($"{oneThread} / {ranks} = {best[oneThread] / ranks:F3} s/epoch, the {parallel} epoch with perfect scaling (no collectives, " +
                              $"no contention between the ranks): the data-parallel speed-up can reach at most {best[ourName] / (best[oneThread] / ranks):F2}x here" +
                              (ourName == oneThread ? "" : $", as {ourName} runs {best[oneThread] / best[ourName]:F2}x faster than {oneThread}"));
            Ratio("data-parallel speed-up", ourName, parallel, 1.2);
            if (theirs is not null) Ratio("speed-up over PyTorch's DDP", ddp, parallel, 1.3);
        }
        else if (theirs is not null)
            Ratio("speed-up", "PyTorch", "research", target);
        return 0;
    }

    /// The oneDNN primitives the one-process side ran: a reference kernel in a hot path makes a step
    /// many times slower, so the report names any.
    static readonly HashSet<OneDnnPrimitive> primitives = new();

    static void PrintEpoch(EpochTiming e, long? flopsPerImage, double rate) =>
        Console.WriteLine($"  epoch {e.Epoch}: {e.Seconds,7:F3} s  {e.Images} images  loss {e.Loss,8:F3}" +
                          (double.IsNaN(e.Collectives) ? "" : $"  collectives {e.Collectives,6:F3} s") +
                          (flopsPerImage is long f ? $"  {Gflops(e, f),6:F1} GEMM GFLOP/s = {Gflops(e, f) / rate,4:P0} of sgemm" : ""));

    static double Gflops(EpochTiming e, long flopsPerImage) => e.Images * (double)flopsPerImage / e.Seconds / 1e9;

    /// Prints the best and mean epoch of one side; returns the best epoch's seconds.
    static double Summary(string side, List<EpochTiming> epochs, long? flopsPerImage, double rate)
    {
        var best = epochs.MinBy(e => e.Seconds)!;
        Console.WriteLine($"{side,-18} best {best.Seconds:F3} s/epoch, mean {epochs.Average(e => e.Seconds):F3} s/epoch" +
                          (flopsPerImage is long f ? $"; best {Gflops(best, f):F1} GEMM GFLOP/s = {Gflops(best, f) / rate:P0} of sgemm" : ""));
        return best.Seconds;
    }

    /// What other processes do to the machine, measured over half a second.
    static (string Text, bool Contended) OtherLoad() =>
        MachineLoad.otherBusyCores(0.5) is { } busy
            ? ($"other processes kept {busy.Value:F1} of {Environment.ProcessorCount} cores busy", busy.Value >= 0.5)
            : ("other processes' load unknown", false);
}
