/* The customer portal's one script: the card form is turned into a gateway token in the browser
   (Accept.js's dispatchData), and only that token is posted to us. The card fields carry no name,
   so the form can never submit them. */
(function () {
  "use strict";
  var form = document.getElementById("add-card");
  if (!form || !window.Accept) { return; }
  var errorBox = document.getElementById("card-error");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    form.querySelector("button[type=submit]").disabled = false;
  }

  form.addEventListener("submit", function (event) {
    if (document.getElementById("card-value").value) { return; }  // tokenised already: submit it
    event.preventDefault();
    errorBox.hidden = true;
    form.querySelector("button[type=submit]").disabled = true;
    var expiry = document.getElementById("card-expiry").value.split("/");
    var secureData = {
      authData: { apiLoginID: form.dataset.apiLoginId, clientKey: form.dataset.clientKey },
      cardData: {
        cardNumber: document.getElementById("card-number").value.replace(/\D/g, ""),
        month: (expiry[0] || "").trim(),
        year: (expiry[1] || "").trim(),
        cardCode: document.getElementById("card-cvc").value.trim()
      }
    };
    window.Accept.dispatchData(secureData, function (response) {
      if (!response || !response.messages || response.messages.resultCode !== "Ok") {
        var message = response && response.messages && response.messages.message && response.messages.message[0];
        showError(message ? message.text : "The card could not be read.");
        return;
      }
      document.getElementById("card-descriptor").value = response.opaqueData.dataDescriptor;
      document.getElementById("card-value").value = response.opaqueData.dataValue;
      ["card-number", "card-expiry", "card-cvc"].forEach(function (id) { document.getElementById(id).value = ""; });
      form.submit();
    });
  });
})();
