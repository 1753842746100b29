namespace Research.Core.Families

open System
open System.IO
open Research.Core.Distributed
open Research.Core.Training

/// One option of a command, declared here and shown by the runner (Experiments.CSharp builds the
/// command line from these declarations; it knows no family's options).
type CommandOption =
    { Flag: string
      Help: string
      /// The value when the flag is not given, which also fixes its kind; None: absent unless given (a text).
      Default: SettingValue option
      /// The default as the help states it: one value, or each preset's (the GAN's widths by architecture).
      DefaultText: string }

module CommandOption =
    let private make flag help value = { Flag = flag; Help = help; Default = Some value; DefaultText = string value }
    let int flag help (value: int) = make flag help (Int value)
    let ints flag help (value: int list) = make flag help (Ints value)
    let number flag help (value: float) = make flag help (Number value)
    let switch flag help (value: bool) = make flag help (Switch value)
    let text flag help (value: string) = make flag help (Text value)

    /// A text option without a default: absent unless given.
    let optional flag help = { Flag = flag; Help = help; Default = None; DefaultText = "" }

    /// A given text as the option's kind (ArgumentException naming the flag).
    let parse (o: CommandOption) (text: string) =
        match o.Default with
        | Some kind -> SettingValue.parse o.Flag kind text
        | None -> Text text

    /// The options of a settings declaration (a family's config, or the run settings).
    let ofSettings (spec: Settings<'R>) =
        let defaults = Settings.defaults spec
        [ for s in spec.Fields -> { Flag = s.Flag; Help = s.Help; Default = Some(s.Get defaults); DefaultText = Settings.defaultText spec s } ]

/// A command line's values by flag: each given option's, and the defaults of the rest (an option
/// without a default only when given).
type CommandArgs(values: (string * SettingValue) list) =
    let get flag =
        match values |> List.tryFind (fun (f, _) -> f = flag) with
        | Some(_, v) -> v
        | None -> invalidArg flag $"no value for --{flag}"

    member _.Int flag = match get flag with Int i -> i | v -> invalidArg flag $"--{flag} is not an integer ({v})"
    member _.Ints flag = match get flag with Ints xs -> xs | v -> invalidArg flag $"--{flag} is not a list of integers ({v})"
    member _.Number flag = match get flag with Number x -> x | v -> invalidArg flag $"--{flag} is not a number ({v})"
    member _.Switch flag = match get flag with Switch b -> b | v -> invalidArg flag $"--{flag} is not true or false ({v})"
    /// The value as the command line writes it, of any kind ("0.7", "10,20").
    member _.Text flag = string (get flag)

    /// An option without a default: Some text if given.
    member _.TryText flag = values |> List.tryFind (fun (f, _) -> f = flag) |> Option.map (fun (_, v) -> string v)

/// Where a command's output goes: its lines, and a long job's progress.
type Output = { Print: string -> unit; Report: Progress -> unit }

/// What every command on a trained run is given: the run folder (a full path), its checkpoint, the
/// seed, the threads (split as the family's `train` splits them), the data folder and its own options.
type RunArgs =
    { Folder: string
      Checkpoint: string
      Seed: int
      Threads: int
      Data: string option
      Options: CommandArgs }

/// A command on a trained run (`<family> sample`, `eval`, `sweep`): the run folder and its checkpoint,
/// then its own options, --data where it reads MNIST, --seed (`Seed` says what it draws) and --threads.
type RunCommand =
    { Name: string
      Description: string
      Seed: string
      Options: CommandOption list
      ReadsData: bool
      Run: RunArgs -> Output -> unit }

module RunCommand =
    /// A command that reads the MNIST test set (`eval`, `sweep`).
    let onData name description seed options run =
        { Name = name; Description = description; Seed = seed; Options = options; ReadsData = true; Run = run }

    /// `<family> sample`: --n images from the checkpoint (`what` they are, in the help), which
    /// `write` (run, n, save) loads and hands to `save` as a Drawing: save writes them, reporting its
    /// progress, as an IDX file of all and a PNG grid of the first 64, under the prefix --out or
    /// <run>/samples/<checkpoint>-n<n><drawnWith>-seed<seed>, and returns both paths. `drawnWith` names the
    /// family's own settings in it ("-t0.7"), `drawnWithHelp` in the help ("-t<temperature>").
    let sample what seed drawnWithHelp (own: CommandOption list) (drawnWith: CommandArgs -> string)
               (write: RunArgs -> int -> (SampleFiles.Drawing -> string * string) -> string * string) =
        { Name = "sample"
          Description = $"{what}: an IDX file of all of them (uint8, as MNIST stores its digits) and a PNG grid of the first 64."
          Seed = seed
          Options =
            [ CommandOption.int "n" "images to generate" 10000 ] @ own
            @ [ CommandOption.optional "out" $"path prefix of <out>-idx3-ubyte and <out>.png; a name ending in either stands for its prefix (default: <run>/samples/<checkpoint>-n<n>{drawnWithHelp}-seed<seed>)" ]
          ReadsData = false
          Run =
            fun a out ->
                let n = a.Options.Int "n"
                if n < 1 then invalidArg "n" $"--n must be at least 1 (got {n})"
                // `--out samples.png` means the files samples.png and samples-idx3-ubyte.
                let prefixOf (out: string) =
                    [ ".png"; "-idx3-ubyte" ]
                    |> List.tryFind (fun ending -> out.EndsWith(ending, StringComparison.OrdinalIgnoreCase) && out.Length > ending.Length)
                    |> Option.map (fun ending -> out[.. out.Length - ending.Length - 1])
                    |> Option.defaultValue out
                let prefix =
                    a.Options.TryText "out"
                    |> Option.map prefixOf
                    |> Option.defaultWith (fun () -> Path.Combine(a.Folder, "samples", $"{a.Checkpoint}-n{n}{drawnWith a.Options}-seed{a.Seed}"))
                let save (drawing: SampleFiles.Drawing) =
                    drawing.Collect(SampleFiles.writeDrawn (Progress.counter "drawing" (int64 n) out.Report) (Path.GetFullPath prefix) n)
                let idx, png = write a n save
                out.Print $"images: {idx}"
                out.Print $"grid:   {png}" }

/// A training, its settings checked: run in a folder (Loop.Start), with the flags a command line
/// left out (a resume keeps the run's own for those), as one rank of a launch or alone, on a data
/// folder, reporting progress; the metrics on rank 0 (None on the others).
type Training = delegate of folder: string * start: Loop.Start * leftOut: string list * launch: Launch option * data: string option * report: Action<Progress> -> MetricsLog option

/// `<family> train`: the family's settings then the run settings as options (both declared once);
/// `Prepare` takes a command line's given (flag, value) pairs, checks them and gives the training.
type TrainCommand =
    { Family: string
      Description: string
      Options: CommandOption list
      Prepare: (string * SettingValue) list -> Training }

module TrainCommand =
    let ofFamily (family: Family<'C>) (description: string) =
        let model = CommandOption.ofSettings family.Settings
        let runSettings = RunSettings.settings family.RunDefaults
        let ofModel (flag, _) = model |> List.exists (fun o -> o.Flag = flag)
        { Family = family.Name
          Description = description
          Options = model @ CommandOption.ofSettings runSettings
          Prepare =
            fun given ->
                let modelGiven, runGiven = List.partition ofModel given
                let config = Settings.ofGiven family.Settings modelGiven
                let settings = Settings.ofGiven runSettings runGiven
                Training(fun folder start leftOut launch data report ->
                    Loop.run family config settings folder start leftOut launch data (if isNull report then ignore else report.Invoke)) }
