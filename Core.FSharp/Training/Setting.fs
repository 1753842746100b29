namespace Research.Core.Training

open System
open System.Globalization
open System.Text.Json

/// A setting's value as the command line and config.json carry it.
type SettingValue =
    | Int of int
    | Ints of int list
    | Number of float
    | Switch of bool
    | Text of string

    override v.ToString() =
        match v with
        | Int i -> string i
        | Ints xs -> xs |> List.map string |> String.concat ","
        | Number x -> x.ToString("R", CultureInfo.InvariantCulture)
        | Switch b -> if b then "true" else "false"
        | Text s -> s

module SettingValue =
    /// The text of a command-line value parsed as the kind of `kind` (ArgumentException naming --flag).
    let parse (flag: string) (kind: SettingValue) (text: string) =
        let number () =
            match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
            | true, x -> x
            | _ -> invalidArg flag $"--{flag}: '{text}' is not a number"
        match kind with
        | Int _ ->
            match Int32.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture) with
            | true, i -> Int i
            | _ -> invalidArg flag $"--{flag}: '{text}' is not an integer"
        | Ints _ ->
            if text.Trim().Length = 0 then Ints []
            else
                Ints
                    [ for part in text.Split(',') ->
                          match part.Trim() with
                          | "" -> invalidArg flag $"--{flag}: '{text}' has an empty entry"
                          | p ->
                              match Int32.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture) with
                              | true, i -> i
                              | _ -> invalidArg flag $"--{flag}: '{p}' is not an integer" ]
        | Number _ -> Number(number ())
        | Switch _ ->
            match text.ToLowerInvariant() with
            | "true" -> Switch true
            | "false" -> Switch false
            | _ -> invalidArg flag $"--{flag}: '{text}' is not true or false"
        | Text _ -> Text text

/// One setting of a settings record 'R (a family's config, or the RunSettings every run shares),
/// declared once: its command-line flag (--Flag), its key in config.json, its help, and how its
/// value is taken from and put into the record. The options, config.json, the checks of a resume
/// and a resume's own settings are all derived from these declarations (Settings below).
type Setting<'R> =
    { Flag: string
      Key: string
      Help: string
      Get: 'R -> SettingValue
      /// Puts a value of the setting's kind into a record (ArgumentException naming the flag for a
      /// value it does not take, such as an unknown name).
      Put: SettingValue -> 'R -> 'R
      /// Whether a resumed run may change it (more epochs, other threads); a setting that shapes the
      /// model or its training may not.
      Resumable: bool
      /// The value of a config.json written before the setting existed (None: the key is required).
      Before: SettingValue option
      /// Writes the value into config.json (one key, or more for a compound value).
      Write: Utf8JsonWriter -> SettingValue -> unit
      /// Reads the value back.
      Read: ConfigReader -> SettingValue }

/// A settings record's declaration: its settings, its defaults and its check. `Presets` are whole
/// records of defaults, the first the default one; where a family's defaults depend on one setting
/// (the GAN's architecture: MLP widths or DCGAN channels), `PresetBy` names that setting's flag and
/// the preset whose value of it the command line gives is the one used.
type Settings<'R> =
    { Fields: Setting<'R> list
      Presets: 'R list
      PresetBy: string option
      /// Rejects records that cannot train (ArgumentException naming the flag).
      Check: 'R -> 'R }

module Setting =
    /// A setting whose values are of one kind ('T, `kind` in words): `wrap` and `unwrap` convert them
    /// to and from SettingValue, `write` and `read` keep them in config.json under `key`.
    let private make (kind: string) (wrap: 'T -> SettingValue) (unwrap: SettingValue -> 'T option)
                     (write: Utf8JsonWriter -> string -> 'T -> unit) (read: ConfigReader -> string -> 'T)
                     flag key help (get: 'R -> 'T) (put: 'T -> 'R -> 'R) =
        let value v = match unwrap v with Some x -> x | None -> invalidArg flag $"--{flag} takes {kind} (got {v})"
        { Flag = flag; Key = key; Help = help; Get = get >> wrap; Put = (fun v r -> put (value v) r); Resumable = false
          Before = None; Write = (fun w v -> write w key (value v)); Read = (fun r -> wrap (read r key)) }

    let int flag key help get put =
        make "an integer" Int (function Int i -> Some i | _ -> None) (fun w k i -> w.WriteNumber(k, i)) (fun r k -> r.Int k) flag key help get put

    let ints flag key help get put =
        make "a list of integers" Ints (function Ints xs -> Some xs | _ -> None) ConfigWriter.ints (fun r k -> r.Ints k) flag key help get put

    let number flag key help get put =
        make "a number" Number (function Number x -> Some x | _ -> None) ConfigWriter.number (fun r k -> r.Number k) flag key help get put

    let switch flag key help get put =
        make "true or false" Switch (function Switch b -> Some b | _ -> None) (fun w k b -> w.WriteBoolean(k, b)) (fun r k -> r.Bool k) flag key help get put

    let text flag key help get put =
        make "a text" Text (function Text s -> Some s | _ -> None) (fun w k s -> w.WriteString(k, s)) (fun r k -> r.String k) flag key help get put

    /// The value of `names` (value, name) called `name`; otherwise an ArgumentException naming
    /// `what` it is and the choices.
    let named (flag: string) (what: string) (names: ('T * string) list) (name: string) =
        match names |> List.tryFind (fun (_, n) -> n = name.ToLowerInvariant()) with
        | Some(v, _) -> v
        | None ->
            let expected = names |> List.map snd
            invalidArg flag $"""unknown {what} '{name}' (expected {String.concat ", " expected.[.. expected.Length - 2]} or {List.last expected})"""

    /// One of a few named values (an architecture, a loss): written by name, read back by name.
    let choice flag key help (names: ('T * string) list) (get: 'R -> 'T) (put: 'T -> 'R -> 'R) =
        text flag key help (fun r -> names |> List.find (fun (v, _) -> v = get r) |> snd) (fun name r -> put (named flag (key.Replace('_', ' ')) names name) r)

    /// A setting a resumed run may change.
    let resumable (s: Setting<'R>) = { s with Resumable = true }

    /// A setting that configs written before it existed lack; they had `value`.
    let since (value: SettingValue) (s: Setting<'R>) = { s with Before = Some value }

module Settings =
    /// The declaration of `fields` with one record of defaults.
    let declare (fields: Setting<'R> list) (defaults: 'R) (check: 'R -> 'R) =
        { Fields = fields; Presets = [ defaults ]; PresetBy = None; Check = check }

    /// The default record.
    let defaults (spec: Settings<'R>) = List.head spec.Presets

    let private field (spec: Settings<'R>) (flag: string) =
        match spec.Fields |> List.tryFind (fun s -> s.Flag = flag) with
        | Some s -> s
        | None -> invalidArg flag $"no setting --{flag}"

    /// The defaults a command line starts from: the preset whose PresetBy setting has the given value.
    let preset (spec: Settings<'R>) (given: (string * SettingValue) list) =
        match spec.PresetBy |> Option.bind (fun flag -> given |> List.tryFind (fun (f, _) -> f = flag)) with
        | Some(flag, value) ->
            let s = field spec flag
            // The value's own parse (unknown names fail here, naming the flag).
            let wanted = s.Get(s.Put value (defaults spec))
            match spec.Presets |> List.tryFind (fun p -> s.Get p = wanted) with
            | Some p -> p
            | None -> defaults spec
        | None -> defaults spec

    /// The record of a command line that gives `given` (flag, value) and leaves the rest to the
    /// defaults, checked.
    let ofGiven (spec: Settings<'R>) (given: (string * SettingValue) list) =
        given |> List.fold (fun r (flag, value) -> (field spec flag).Put value r) (preset spec given) |> spec.Check

    /// The text of a default for a command line's help: one value, or each preset's where they differ.
    let defaultText (spec: Settings<'R>) (s: Setting<'R>) =
        match spec.PresetBy with
        | Some by when by <> s.Flag && spec.Presets |> List.map s.Get |> List.distinct |> List.length > 1 ->
            let name = field spec by
            spec.Presets |> List.map (fun p -> $"{name.Get p}: {s.Get p}") |> String.concat "; "
        | _ -> string (s.Get(defaults spec))

    let write (spec: Settings<'R>) (w: Utf8JsonWriter) (r: 'R) =
        for s in spec.Fields do s.Write w (s.Get r)

    /// Reads the declared settings from config.json into `record` (ArgumentException for a value no
    /// setting takes, which ConfigReader.Parse turns into an error naming the file).
    let readInto (spec: Settings<'R>) (record: 'R) (reader: ConfigReader) =
        spec.Fields
        |> List.fold
            (fun r s ->
                match s.Before with
                | Some value when not (reader.Has s.Key) -> s.Put value r
                | _ -> s.Put (s.Read reader) r)
            record

    /// Reads a record from config.json.
    let read (spec: Settings<'R>) (reader: ConfigReader) = readInto spec (defaults spec) reader

    /// A resume's record: the settings named in `leftOut` (flags a command line did not give) are
    /// the run's own, the others as `requested`.
    let resumed (spec: Settings<'R>) (saved: 'R) (leftOut: string list) (requested: 'R) =
        spec.Fields |> List.fold (fun r s -> s.Put (s.Get(if List.contains s.Flag leftOut then saved else requested)) r) requested

    /// The settings a resumed run may not change that differ between two records: (flag, a, b).
    let differing (spec: Settings<'R>) (a: 'R) (b: 'R) =
        [ for s in spec.Fields do
              let x, y = s.Get a, s.Get b
              if not s.Resumable && x <> y then s.Flag, x, y ]

    /// What a resumed run may not change: one line per differing setting, "--flag: saved A, requested B".
    let differences (spec: Settings<'R>) (saved: 'R) (requested: 'R) =
        [ for flag, a, b in differing spec saved requested -> $"--{flag}: saved {a}, requested {b}" ]
