using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace WbcPortal.Security;

/// <summary>
/// An exception under <c>/api</c> becomes a problem-details document that names the request, never the exception's
/// text, type, stack or a server path (those go to the log); pages get the Error page instead (the handler's path).
/// </summary>
public sealed class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        if (!http.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)) return false;
        if (exception is WbcPortal.Services.Accounts.AccessDeniedException denied)
        {
            // A role check in a service: 403 with what was refused and which role it needs.
            await PortalAuthentication.Denied(denied).ExecuteAsync(http);
            return true;
        }
        var (status, title) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Request too large" : "Bad request"),
            OperationCanceledException when http.RequestAborted.IsCancellationRequested => (499, "Request aborted"),
            _ => (StatusCodes.Status500InternalServerError, "The server could not answer this request"),
        };
        if (status >= 500) logger.LogError(exception, "API request {Method} {Path} failed ({TraceId})", http.Request.Method, http.Request.Path, http.TraceIdentifier);
        http.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = null,
            ProblemDetails = new ProblemDetails
            {
                Status = status,
                Title = title,
                Detail = status >= 500 ? $"The portal's log has the details under request id {http.TraceIdentifier}." : null,
                Type = $"https://www.rfc-editor.org/rfc/rfc9110#status.{status}",
            },
        });
    }
}
