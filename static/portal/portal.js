/* The customer portal's one script: the card form is turned into a gateway token in the browser,
   with Accept.js's dispatchData (an Authorize.Net account) or Stripe.js's card element and
   createPaymentMethod (a Stripe account), and only that token is posted to us. The card fields
   carry no name, so the form can never submit them. A Stripe card that asks for 3-D Secure is
   handled by the server: it answers the post with the bank's page. */
(function () {
  "use strict";
  var form = document.getElementById("add-card");
  if (!form) { return; }
  var errorBox = document.getElementById("card-error");
  var submitButton = form.querySelector("button[type=submit]");
  var descriptorField = document.getElementById("card-descriptor");
  var valueField = document.getElementById("card-value");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    submitButton.disabled = false;
  }

  // On submit: tokenise (once), then post the form with the token only.
  function onSubmit(tokenise) {
    form.addEventListener("submit", function (event) {
      if (valueField.value) { return; }  // tokenised already: submit it
      event.preventDefault();
      errorBox.hidden = true;
      submitButton.disabled = true;
      tokenise(function (descriptor, value) {
        descriptorField.value = descriptor;
        valueField.value = value;
        form.submit();
      });
    });
  }

  function acceptJs() {
    if (!window.Accept) { return; }
    onSubmit(function (done) {
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
        ["card-number", "card-expiry", "card-cvc"].forEach(function (id) { document.getElementById(id).value = ""; });
        done(response.opaqueData.dataDescriptor, response.opaqueData.dataValue);
      });
    });
  }

  function stripeJs() {
    if (!window.Stripe) { return; }
    var stripe = window.Stripe(form.dataset.publishableKey);
    var card = stripe.elements().create("card");
    card.mount("#card-element");
    onSubmit(function (done) {
      var billing = {};
      if (form.dataset.billingName) { billing.name = form.dataset.billingName; }
      if (form.dataset.billingEmail) { billing.email = form.dataset.billingEmail; }
      stripe.createPaymentMethod({ type: "card", card: card, billing_details: billing }).then(function (result) {
        if (result.error || !result.paymentMethod) {
          showError((result.error && result.error.message) || "The card could not be read.");
          return;
        }
        card.clear();
        done(form.dataset.descriptor, result.paymentMethod.id);
      }, function () { showError("The card could not be read. Please try again."); });
    });
  }

  if (form.dataset.gateway === "stripe") {
    stripeJs();
  } else {
    acceptJs();
  }
})();
