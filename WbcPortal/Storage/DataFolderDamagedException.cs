namespace WbcPortal.Storage;

/// <summary>
/// The data folder's database is missing, empty or unreadable while stored files exist: starting would treat every
/// stored image as unreferenced. Nothing is changed; the message says what was found and how to restore.
/// </summary>
public sealed class DataFolderDamagedException(string message) : IOException(message);
