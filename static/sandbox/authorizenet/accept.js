/* Accept.js stand-in (the sandbox's, served in dev and test): window.Accept.dispatchData sends the
   card to the sandbox's token endpoint, next to this script, and hands back a single-use opaqueData
   token, answering the same shape as Authorize.Net's library. The card goes nowhere else. */
(function () {
  "use strict";
  var script = document.currentScript;
  var endpoint = new URL("accept/v1/tokens", script ? script.src : window.location.href).toString();

  function failure(text) {
    return { messages: { resultCode: "Error", message: [{ code: "E_WC_14", text: text }] } };
  }

  window.Accept = {
    dispatchData: function (secureData, responseHandler) {
      fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ authData: secureData.authData || {}, cardData: secureData.cardData || {} }),
        credentials: "omit"
      })
        .then(function (response) { return response.json(); })
        .then(responseHandler)
        .catch(function () { responseHandler(failure("Accept.js encryption failed.")); });
    }
  };
})();
