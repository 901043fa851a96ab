using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace WbcPortal.Services;

/// <summary>
/// Turns any exception into the one line a person reads (CLI stderr, a failed job's or run's reason): the cause
/// that matters (disk full, a damaged or busy database, memory), never a stack trace or a wrapper's message.
/// </summary>
public static class UserFacingError
{
    private const int Enospc = 28;            // Linux errno
    private const int ErrorDiskFull = 0x70;   // Windows
    private const int ErrorHandleDiskFull = 0x27;
    private const int SqliteIoErrShmSize = 10 | (19 << 8);

    public static string Describe(Exception exception)
    {
        var ex = Unwrap(exception);
        string text = ex switch
        {
            _ when IsDiskFull(ex) => $"the disk is full: no space left on the device ({OneLine(ex.Message)}); free some space (`WbcPortal storage` lists what the data folder holds and deletes what you choose, as does the Storage page) and try again — nothing half-written was kept",
            SqliteException { SqliteErrorCode: 13 } => "the disk is full: the database could not grow; free some space and try again — the last change was rolled back",
            SqliteException { SqliteErrorCode: 26 } or SqliteException { SqliteErrorCode: 11 } => $"the database file is damaged ({OneLine(ex.Message)}); restore it from a backup (WbcPortal restore BACKUP)",
            SqliteException { SqliteErrorCode: 5 } or SqliteException { SqliteErrorCode: 6 } => "the database is busy (another process holds it); try again in a moment",
            SqliteException { SqliteErrorCode: 8 } => "the data folder is read-only for this process: a portal started with --read-only changes nothing (start it without --read-only once the folder is free), or check the folder's permissions",
            SqliteException { SqliteErrorCode: 14 } => "the database file cannot be opened (check the data folder exists and is writable)",
            SqliteException s => $"database error: {OneLine(s.Message)}",
            // PostgreSQL (shared by several nodes): the server's own words, with what a person does about the common ones.
            Npgsql.PostgresException { SqlState: "53100" } => "the database server's disk is full; free space there and try again — the last change was rolled back",
            Npgsql.PostgresException { SqlState: "25006" } => "this portal's database session is read-only (--read-only): it changes nothing",
            Npgsql.PostgresException { SqlState: "40001" or "40P01" } => "the database refused the change because another node changed the same rows at once; try again",
            Npgsql.PostgresException p => $"database error: {OneLine(p.MessageText)} ({p.SqlState})",
            Npgsql.NpgsqlException n when n.InnerException is System.Net.Sockets.SocketException or TimeoutException or IOException =>
                $"the database server cannot be reached ({OneLine(n.InnerException!.Message)}); check Storage:ConnectionString and that PostgreSQL is running",
            Npgsql.NpgsqlException n => $"database error: {OneLine(n.Message)}",
            OutOfMemoryException => "the machine ran out of memory for this work; nothing was kept from it",
            UnauthorizedAccessException => $"permission denied: {OneLine(ex.Message)}",
            _ => OneLine(ex.Message),
        };
        return text.Length == 0 ? ex.GetType().Name : text;
    }

    public static bool IsDiskFull(Exception exception)
    {
        var ex = Unwrap(exception);
        if (ex is SqliteException { SqliteErrorCode: 13 }) return true;
        // SQLITE_IOERR_SHMSIZE: no room to grow the WAL's shared-memory index (-shm), what a full disk gives a reader.
        if (ex is SqliteException { SqliteErrorCode: 10, SqliteExtendedErrorCode: SqliteIoErrShmSize }) return true;
        if (ex is not IOException io) return false;
        int code = io.HResult & 0xFFFF;
        return code is Enospc or ErrorDiskFull or ErrorHandleDiskFull || io.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The exception that says what happened: through aggregates, EF's update wrapper and invocation wrappers.</summary>
    public static Exception Unwrap(Exception exception)
    {
        var ex = exception;
        for (int depth = 0; depth < 8; depth++)
        {
            Exception? inner = ex switch
            {
                AggregateException a => a.Flatten().InnerExceptions.FirstOrDefault(),
                DbUpdateException d => d.InnerException,
                System.Reflection.TargetInvocationException t => t.InnerException,
                TypeInitializationException t => t.InnerException,
                _ when ex.InnerException is System.Data.Common.DbException or IOException => ex.InnerException,
                _ => null,
            };
            if (inner is null) break;
            ex = inner;
        }
        return ex;
    }

    /// <summary>A unique index refused the row (a name taken by someone else meanwhile), on either provider.</summary>
    public static bool IsUniqueViolation(Exception exception) =>
        Unwrap(exception) is SqliteException { SqliteErrorCode: 19 } or Npgsql.PostgresException { SqlState: "23505" };

    public static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
