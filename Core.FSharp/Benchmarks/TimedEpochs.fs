namespace Research.Core.Benchmarks

open System
open Research.Core
open Research.Core.Data
open Research.Core.Distributed
open Research.Core.Training

/// What every `research bench` times: a family's training epochs, the shared loop's own, on a
/// fresh model; nothing is written. In one process, or as one rank of a data-parallel group
/// (`bench <family> --ranks N` starts N of them), where each rank trains on its share from rank
/// 0's initial weights and the seconds in the training collectives are counted too.
[<AbstractClass; Sealed>]
type TimedEpochs =
    /// Times the settings' epochs of the trainer `create` makes from the run's generator, on `data`.
    static member Run(data: Mnist, settings: RunSettings, create: Generator -> TrainingRun, dataParallel: DataParallel option,
                      report: Progress -> unit) =
        let rank = dataParallel |> Option.map (fun dp -> dp.Rank) |> Option.defaultValue 0
        use generator = new Generator(DataParallel.Seed(settings.Seed, rank))
        use trainer = create generator
        dataParallel |> Option.iter (fun dp -> dp.Attach trainer)
        [| for epoch in 1 .. settings.Epochs ->
               let before = dataParallel |> Option.map (fun dp -> dp.CollectiveSeconds)
               let result = Loop.trainEpoch trainer data.train settings.BatchSize generator dataParallel epoch settings.Epochs report
               let collectives =
                   match dataParallel, before with
                   | Some dp, Some b -> dp.CollectiveSeconds - b
                   | _ -> nan
               { Epoch = epoch; Seconds = result.Seconds; Images = result.Images; Loss = result.Loss; Collectives = collectives } |]

    /// One rank of the group `launch` describes, timing as Run does; every rank returns its own
    /// timings (the benchmark reads rank 0's).
    static member Rank(launch: Launch, data: Mnist, settings: RunSettings, create: Generator -> TrainingRun) =
        use group = ProcessGroup.Join launch
        use dataParallel = new DataParallel(group)
        TimedEpochs.Run(data, settings, create, Some dataParallel, ignore)

    /// A family's epochs on `config`, from scratch on its data (dataFolder: null or empty for the
    /// workspace's); with a launch, as one rank of that group. The thread settings are the caller's.
    static member OfFamily(family: Family<'C>, config: 'C, settings: RunSettings, launch: Launch option, dataFolder: string) =
        let config = family.Settings.Check config
        use data = family.LoadData config settings (if String.IsNullOrEmpty dataFolder then None else Some dataFolder)
        let create generator = family.Create config settings data generator
        match launch with
        | None -> TimedEpochs.Run(data, settings, create, None, ignore)
        | Some launch -> TimedEpochs.Rank(launch, data, settings, create)
