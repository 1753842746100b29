namespace Research.Core

open System

/// A native resource that a TensorScope can own (the base of Tensor).
[<AbstractClass; AllowNullLiteral>]
type ScopedResource() =
    /// The scope that frees this resource; null when the caller owns it.
    [<DefaultValue>]
    val mutable internal Owner: TensorScope

    /// Frees the native resource now; a second call does nothing.
    abstract Dispose: unit -> unit

    interface IDisposable with
        member r.Dispose() = r.Dispose()

/// Owns every tensor created on this thread while it is the innermost scope and frees them
/// when disposed, except the ones moved out (MoveToOuter) or handed to the caller (Detach).
/// Scopes nest in a thread-local stack: `use scope = new TensorScope()`.
and [<Sealed; AllowNullLiteral>] TensorScope =
    [<ThreadStatic; DefaultValue>]
    static val mutable private current: TensorScope

    val private parent: TensorScope
    val private owned: ResizeArray<ScopedResource>
    [<DefaultValue>]
    val mutable private disposed: bool

    new() as this =
        { parent = TensorScope.current; owned = ResizeArray() }
        then TensorScope.current <- this

    /// The nearest live scope at or above s (scopes disposed out of order are skipped).
    static member private Live(s: TensorScope) =
        let mutable s = s
        while not (isNull s) && s.disposed do
            s <- s.parent
        s

    /// The innermost live scope of this thread, or null.
    static member Current = TensorScope.Live TensorScope.current

    member private scope.Own(r: ScopedResource) =
        r.Owner <- scope
        scope.owned.Add r

    /// Gives a new resource to the innermost scope of this thread, if any.
    static member internal Register(r: ScopedResource) =
        let s = TensorScope.Current
        if not (isNull s) then s.Own r

    member private scope.CheckOwns(r: ScopedResource) =
        if isNull r then nullArg "resource"
        if not (obj.ReferenceEquals(r.Owner, scope)) then
            invalidArg "resource" "this scope does not own the given tensor"

    /// Moves r to the enclosing scope (or to the caller when there is none) and returns it.
    member scope.MoveToOuter<'R when 'R :> ScopedResource>(r: 'R) : 'R =
        scope.CheckOwns r
        let outer = TensorScope.Live scope.parent
        if isNull outer then r.Owner <- null else outer.Own r
        r

    /// Releases r from this scope: the caller owns it and must dispose it.
    member scope.Detach<'R when 'R :> ScopedResource>(r: 'R) : 'R =
        scope.CheckOwns r
        r.Owner <- null
        r

    /// Number of resources this scope still owns.
    member scope.Count =
        scope.owned |> Seq.filter (fun r -> obj.ReferenceEquals(r.Owner, scope)) |> Seq.length

    member scope.Dispose() =
        if not scope.disposed then
            scope.disposed <- true
            for r in scope.owned do
                if obj.ReferenceEquals(r.Owner, scope) then
                    r.Owner <- null
                    r.Dispose()
            scope.owned.Clear()
            if obj.ReferenceEquals(TensorScope.current, scope) then
                TensorScope.current <- TensorScope.Live scope.parent

    interface IDisposable with
        member scope.Dispose() = scope.Dispose()
